package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/posthog-deploy/posthog-deploy/platform/capture"
	"github.com/posthog-deploy/posthog-deploy/policies/rules"
)

// captured runs the program of a stack file under mocks and returns what the rules see.
func captured(t *testing.T, file string) (rules.Context, []rules.Resource) {
	t.Helper()
	cfg, err := capture.StackFile(file)
	if err != nil {
		t.Fatal(err)
	}
	stack := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "Pulumi."), ".yaml")
	rs, err := capture.Run(stack, cfg)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []rules.Resource
	for _, r := range rs {
		out = append(out, rules.Resource{Type: r.Type, Name: r.Name, URN: r.URN,
			Props: resource.FromResourcePropertyMap(r.Inputs), Protect: r.Protect, PropertyDependencies: r.PropertyDependencies})
	}
	return rules.Context{Environment: cfg.Values["posthog-deploy:environment"], Cloud: cfg.Values["posthog-deploy:cloud"]}, out
}

func mandatoryViolations(ctx rules.Context, rs []rules.Resource) []string {
	var out []string
	for _, r := range rules.All() {
		if r.Enforcement != policyx.EnforcementLevelMandatory {
			continue
		}
		for _, v := range r.Run(ctx, rs) {
			out = append(out, r.ID+" "+v.URN+": "+v.Message)
		}
	}
	return out
}

func TestShippedStacksAreClean(t *testing.T) {
	files, err := filepath.Glob("../stacks/Pulumi.*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ctx, rs := captured(t, f)
			if len(rs) < 20 {
				t.Fatalf("only %d resources captured", len(rs))
			}
			for _, v := range mandatoryViolations(ctx, rs) {
				t.Error(v)
			}
		})
	}
}

// TestUnsafeVariantsAreCaught breaks the shipped stacks' real output the ways the rules exist
// for, and requires each to be caught. drop removes the resources whose name, or type::name,
// starts with it.
func TestUnsafeVariantsAreCaught(t *testing.T) {
	for _, tc := range []struct {
		name, rule string
		ctx        func(rules.Context) rules.Context
		edit       func(rules.Resource) rules.Resource
		drop       string
		stack      string
	}{
		{"S3 versioning dropped", "PH-BK-001", nil, nil, "aws:s3/bucketVersioningV2:BucketVersioningV2::", "aws-prod"},
		{"S3 backups bucket unversioned", "PH-CH-005", nil, nil, "aws:s3/bucketVersioningV2:BucketVersioningV2::", "aws-prod"},
		{"S3 public access block dropped", "PH-BK-002", nil, nil, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::", "aws-staging"},
		{"S3 versioning suspended", "PH-BK-003", nil, setProp("aws:s3/bucketVersioningV2:BucketVersioningV2", "versioningConfiguration",
			map[string]any{"status": "Suspended"}), "", "aws-prod"},
		{"RDS backups cut to a day", "PH-PG-001", nil, setProp("aws:rds/instance:Instance", "backupRetentionPeriod", 1), "", "aws-prod"},
		{"RDS made public", "PH-PG-002", nil, setProp("aws:rds/instance:Instance", "publiclyAccessible", true), "", "aws-dev"},
		{"RDS final snapshot skipped", "PH-PG-003", nil, setProp("aws:rds/instance:Instance", "skipFinalSnapshot", true), "", "aws-prod"},
		{"EKS API open to the world", "PH-CL-002", nil, setProp("aws:eks/cluster:Cluster", "vpcConfig",
			map[string]any{"endpointPublicAccess": true, "publicAccessCidrs": []any{"0.0.0.0/0"}}), "", "aws-prod"},
		{"EKS secrets unencrypted", "PH-CL-001", nil, setProp("aws:eks/cluster:Cluster", "encryptionConfig", map[string]any{}), "", "aws-dev"},
		{"Cloud SQL unprotected", "PH-ST-001", nil, unprotect("gcp:sql/databaseInstance:DatabaseInstance"), "", "gcp-prod"},
		{"GCS versioning off", "PH-BK-001", nil, setProp("gcp:storage/bucket:Bucket", "versioning", map[string]any{"enabled": false}), "", "gcp-staging"},
		{"GKE without workload identity", "PH-CL-001", nil, setProp("gcp:container/cluster:Cluster", "workloadIdentityConfig", nil), "", "gcp-dev"},
		{"Azure blob versioning dropped", "PH-BK-001", nil, nil, "azure-native:storage:BlobServiceProperties::", "azure-prod"},
		{"Azure backups container unversioned", "PH-CH-005", nil, nil, "azure-native:storage:BlobServiceProperties::", "azure-prod"},
		{"Azure Postgres outside the VNet", "PH-PG-002", nil, setProp("azure-native:dbforpostgresql:Server", "network", map[string]any{}), "", "azure-staging"},
		{"Spaces bucket public", "PH-BK-002", nil, setProp("digitalocean:index/spacesBucket:SpacesBucket", "acl", "public-read"), "", "digitalocean-dev"},
		{"PgBouncer to RDS without TLS", "PH-PG-004", nil, replaceIn(rules.ConfigMap, "pgbouncer", "pgbouncer.ini",
			"server_tls_sslmode = verify-full", "server_tls_sslmode = disable"), "", "aws-prod"},
		{"PgBouncer to Cloud SQL unverified", "PH-PG-004", nil, replaceIn(rules.ConfigMap, "pgbouncer", "pgbouncer.ini",
			"server_tls_sslmode = verify-ca", "server_tls_sslmode = require"), "", "gcp-staging"},
		{"DO database without standby in prod", "PH-PG-003", nil, setProp("digitalocean:index/databaseCluster:DatabaseCluster", "nodeCount", 1), "", "digitalocean-prod"},
		{"node spread judged on a zoned cloud", "PH-CH-004", func(c rules.Context) rules.Context { c.Cloud = "aws"; return c }, nil, "", "digitalocean-prod"},
		{"zero-copy on", "PH-CH-001", nil, replaceIn(rules.ConfigMap, "clickhouse-config", "posthog.xml",
			"<allow_remote_fs_zero_copy_replication>0<", "<allow_remote_fs_zero_copy_replication>1<"), "", ""},
		{"autopurge off", "PH-ZK-001", nil, replaceIn(rules.ConfigMap, "zookeeper", "zoo.cfg",
			"autopurge.purgeInterval=1", "autopurge.purgeInterval=0"), "", ""},
		{"experimental setting", "PH-CH-002", nil, replaceIn(rules.ConfigMap, "clickhouse-profiles", "profiles.xml",
			"<load_balancing>", "<allow_experimental_refreshable_materialized_view>1</allow_experimental_refreshable_materialized_view><load_balancing>"), "", ""},
		{"dev output judged as prod", "PH-ST-001", func(c rules.Context) rules.Context { c.Environment = "prod"; return c }, nil, "", ""},
		{"no NetworkPolicy", "PH-K8-004", nil, nil, "kubernetes:networking.k8s.io/v1:NetworkPolicy::", "gcp-prod"},
		{"Kafka open to the cluster", "PH-K8-004", nil, setProp(rules.NetworkPolicy, "spec", map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "kafka"}},
			"policyTypes": []any{"Ingress"}, "ingress": []any{map[string]any{}}}), "", "aws-prod"},
		{"no backup schedule", "PH-CH-005", nil, nil, "clickhouse-backup-shard-", ""},
		{"backups bucket not versioned", "PH-CH-005", nil, nil, "objectstore-buckets-", ""},
		{"cold disk bucket not versioned", "PH-CH-006", nil, nil, "objectstore-buckets-", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stack == "" {
				tc.stack = "local"
			}
			ctx, rs := captured(t, "../stacks/Pulumi."+tc.stack+".yaml")
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			var kept []rules.Resource
			for _, r := range rs {
				if tc.edit != nil {
					r = tc.edit(r)
				}
				if tc.drop == "" || !strings.HasPrefix(r.Name, tc.drop) && !strings.HasPrefix(r.Type+"::"+r.Name, tc.drop) {
					kept = append(kept, r)
				}
			}
			if len(kept) == len(rs) && tc.drop != "" {
				t.Fatalf("nothing named %s* to drop", tc.drop)
			}
			rs = kept
			caught := false
			for _, v := range mandatoryViolations(ctx, rs) {
				caught = caught || strings.HasPrefix(v, tc.rule+" ")
			}
			if !caught {
				t.Errorf("%s did not catch it", tc.rule)
			}
		})
	}
}

// setProp sets a top-level input of every resource of typ (nil removes it).
func setProp(typ, key string, value any) func(rules.Resource) rules.Resource {
	return func(r rules.Resource) rules.Resource {
		if r.Type == typ {
			if value == nil {
				r.Props = r.Props.Delete(key)
			} else {
				r.Props = r.Props.Set(key, resource.FromResourcePropertyValue(resource.NewPropertyValue(value)))
			}
		}
		return r
	}
}

func unprotect(typ string) func(rules.Resource) rules.Resource {
	return func(r rules.Resource) rules.Resource {
		if r.Type == typ {
			r.Protect = false
		}
		return r
	}
}

// replaceIn edits one file of one ConfigMap, and fails the test loudly if the text is absent.
func replaceIn(typ, name, file, old, new string) func(rules.Resource) rules.Resource {
	return func(r rules.Resource) rules.Resource {
		if r.Type != typ || r.Name != name {
			return r
		}
		data := r.Props.Get("data").AsMap()
		text := data.Get(file).AsString()
		if !strings.Contains(text, old) {
			panic(name + "/" + file + " does not contain " + old)
		}
		r.Props = r.Props.Set("data", property.New(data.Set(file, property.New(strings.Replace(text, old, new, 1)))))
		return r
	}
}
