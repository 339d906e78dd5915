package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// source is a stack's raw config: plain values and the keys set as secrets.
type source struct {
	values  map[string]string
	secrets map[string]bool
}

func (s source) Get(k string) (string, bool) { v, ok := s.values[k]; return v, ok }
func (s source) IsSecret(k string) bool      { return s.secrets[k] }

// valid is a minimal good stack: cloud, environment and the three secrets.
func valid(env string, extra map[string]string) source {
	s := source{values: map[string]string{"cloud": "local", "environment": env}, secrets: map[string]bool{}}
	for k, n := range SecretKeys {
		s.values[k] = strings.Repeat("s", n)
		s.secrets[k] = true
	}
	for k, v := range extra {
		s.values[k] = v
	}
	return s
}

func TestDefaultsPerEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env                          string
		zk, shards, replicas, webMin int
	}{
		{"dev", 1, 1, 1, 1},
		{"staging", 3, 1, 2, 2},
		{"prod", 3, 2, 2, 2},
	} {
		t.Run(tc.env, func(t *testing.T) {
			c, err := Parse(valid(tc.env, nil))
			if err != nil {
				t.Fatal(err)
			}
			if c.ZooKeeper.Replicas != tc.zk || c.ClickHouse.Shards != tc.shards ||
				c.ClickHouse.Replicas != tc.replicas || c.PostHog.Web.Min != tc.webMin {
				t.Errorf("got zk=%d shards=%d replicas=%d web.min=%d", c.ZooKeeper.Replicas,
					c.ClickHouse.Shards, c.ClickHouse.Replicas, c.PostHog.Web.Min)
			}
			if c.ZooKeeper.PurgeIntervalHours < 1 || c.ZooKeeper.SnapRetainCount < 3 {
				t.Errorf("autopurge off by default: %+v", c.ZooKeeper)
			}
			if got, want := c.Environment.Protected(), tc.env != "dev"; got != want {
				t.Errorf("Protected() = %v, want %v", got, want)
			}
		})
	}
}

func TestOverlayKeepsUnsetDefaults(t *testing.T) {
	c, err := Parse(valid("prod", map[string]string{
		"clickhouse": `{"shards": 3, "allowExperimental": ["allow_experimental_object_type"]}`,
		"namespace":  "analytics",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHouse.Shards != 3 || c.ClickHouse.Replicas != 2 || c.ClickHouse.Cluster != "posthog" {
		t.Errorf("clickhouse = %+v, want 3 shards over the prod defaults", c.ClickHouse)
	}
	if c.Namespace != "analytics" || len(c.ClickHouse.AllowExperimental) != 1 {
		t.Errorf("config = %+v", c)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  source
		want []string
	}{
		{"no cloud", source{values: map[string]string{"environment": "dev"}},
			[]string{"posthog-deploy:cloud: is required"}},
		{"unknown cloud", source{values: map[string]string{"cloud": "heroku", "environment": "dev"}},
			[]string{`posthog-deploy:cloud: invalid value "heroku": must be one of local, aws, gcp, digitalocean, azure`}},
		{"unknown environment", source{values: map[string]string{"cloud": "aws", "environment": "production"}},
			[]string{`posthog-deploy:environment: invalid value "production": must be one of dev, staging, prod`}},
		{"prod with one replica per shard", valid("prod", map[string]string{"clickhouse": `{"replicas": 1}`}),
			[]string{"posthog-deploy:clickhouse.replicas: invalid value 1: must be at least 2 in prod"}},
		{"staging with one zookeeper", valid("staging", map[string]string{"zookeeper": `{"replicas": 1}`}),
			[]string{"posthog-deploy:zookeeper.replicas: invalid value 1: must be at least 3 in staging"}},
		{"even ensemble", valid("dev", map[string]string{"zookeeper": `{"replicas": 4}`}),
			[]string{"posthog-deploy:zookeeper.replicas: invalid value 4: must be odd, from 1 to 7"}},
		{"autopurge off", valid("dev", map[string]string{"zookeeper": `{"purgeIntervalHours": 0}`}),
			[]string{"posthog-deploy:zookeeper.purgeIntervalHours: invalid value 0: must be from 1 to 168: autopurge is never off"}},
		{"too few snapshots", valid("dev", map[string]string{"zookeeper": `{"snapRetainCount": 2}`}),
			[]string{"posthog-deploy:zookeeper.snapRetainCount: invalid value 2: must be from 3 to 100"}},
		{"zero shards", valid("dev", map[string]string{"clickhouse": `{"shards": 0}`}),
			[]string{"posthog-deploy:clickhouse.shards: invalid value 0: must be from 1 to 16"}},
		{"latest image", valid("dev", map[string]string{"clickhouse": `{"image": "clickhouse/clickhouse-server:latest"}`}),
			[]string{`posthog-deploy:clickhouse.image: invalid value "clickhouse/clickhouse-server:latest": must pin a tag`}},
		{"untagged image", valid("dev", map[string]string{"posthog": `{"image": "registry:5000/posthog/posthog"}`}),
			[]string{`posthog-deploy:posthog.image: invalid value "registry:5000/posthog/posthog": must pin a tag`}},
		{"zero-copy allowed", valid("dev", map[string]string{"clickhouse": `{"allowExperimental": ["allow_experimental_zero_copy_replication"]}`}),
			[]string{"zero-copy replication is never allowed"}},
		{"not an experimental setting", valid("dev", map[string]string{"clickhouse": `{"allowExperimental": ["max_threads"]}`}),
			[]string{`posthog-deploy:clickhouse.allowExperimental[0]: invalid value "max_threads": must name an allow_experimental_* setting`}},
		{"typo in a field", valid("dev", map[string]string{"clickhouse": `{"shard": 2}`}),
			[]string{`posthog-deploy:clickhouse: must be an object of its documented fields: unknown field "shard"`}},
		{"wrong type", valid("dev", map[string]string{"clickhouse": `{"shards": "two"}`}),
			[]string{`posthog-deploy:clickhouse: must be an object of its documented fields: field "shards" must be a int, not string`}},
		{"bad backup schedule", valid("dev", map[string]string{"clickhouse": `{"backup": {"schedule": "daily"}}`}),
			[]string{`posthog-deploy:clickhouse.backup.schedule: invalid value "daily": must be a cron schedule`}},
		{"too few backups in prod", valid("prod", map[string]string{"clickhouse": `{"backup": {"keep": 3}}`}),
			[]string{"posthog-deploy:clickhouse.backup.keep: invalid value 3: must be at least 7 in prod"}},
		{"bad namespace", valid("dev", map[string]string{"namespace": "PostHog_NS"}),
			[]string{`posthog-deploy:namespace: invalid value "PostHog_NS": must be a DNS label`}},
		{"bad storage", valid("dev", map[string]string{"zookeeper": `{"storage": "10GB"}`}),
			[]string{`posthog-deploy:zookeeper.storage: invalid value "10GB": must be a size such as 10Gi`}},
		{"web max below min", valid("dev", map[string]string{"posthog": `{"web": {"min": 3, "max": 2}}`}),
			[]string{"posthog-deploy:posthog.web.max: invalid value 2: must be from posthog.web.min (3) to 50"}},
		{"prod web single replica", valid("prod", map[string]string{"posthog": `{"web": {"min": 1, "max": 4}}`}),
			[]string{"posthog-deploy:posthog.web.min: invalid value 1: must be at least 2 in prod"}},
		{"clickhouse newer than PostHog accepts", valid("dev", map[string]string{"clickhouse": `{"image": "clickhouse/clickhouse-server:24.8.14.39"}`}),
			[]string{`posthog-deploy:clickhouse.image: invalid value "clickhouse/clickhouse-server:24.8.14.39": must tag a version in >=22.8.0 <22.9.0`}},
		{"redis newer than PostHog accepts", valid("dev", map[string]string{"redis": `{"image": "redis:7.2.5-alpine"}`}),
			[]string{`posthog-deploy:redis.image: invalid value "redis:7.2.5-alpine": must tag a version in >=6.2.0 <=6.3.0`}},
		{"a floating postgres tag", valid("dev", map[string]string{"postgres": `{"image": "postgres:14-alpine"}`}),
			[]string{`posthog-deploy:postgres.image: invalid value "postgres:14-alpine": must tag a full version, as 13.23 does`}},
		{"an experimental setting ClickHouse does not know", valid("dev", map[string]string{"clickhouse": `{"allowExperimental": ["allow_experimental_analyzer"]}`}),
			[]string{`posthog-deploy:clickhouse.allowExperimental[0]: invalid value "allow_experimental_analyzer": is not a setting ClickHouse 22.8.11.15 knows`}},
		{"in-cluster postgres newer than PostHog accepts", valid("dev", map[string]string{"postgres": `{"image": "postgres:15.10-alpine"}`}),
			[]string{`posthog-deploy:postgres.image: invalid value "postgres:15.10-alpine": must tag a version in >=11.0.0 <=14.1.0`}},
		{"another kafka image", valid("dev", map[string]string{"kafka": `{"image": "bitnami/kafka:3.9.0"}`}),
			[]string{`posthog-deploy:kafka.image: invalid value "bitnami/kafka:3.9.0": must be an image of apache/kafka`}},
		{"another posthog release", valid("dev", map[string]string{"posthog": `{"image": "posthog/posthog:release-1.42.0"}`}),
			[]string{`posthog-deploy:posthog.image: invalid value "posthog/posthog:release-1.42.0": must tag a version in the pinned 1.43.0`}},
		{"posthog digest without its tag", valid("dev", map[string]string{"posthog": `{"image": "posthog/posthog@sha256:abcd"}`}),
			[]string{`posthog-deploy:posthog.image: invalid value "posthog/posthog@sha256:abcd": must tag a version, such as 1.43.0`}},
		{"one pgbouncer in prod", valid("prod", map[string]string{"pgbouncer": `{"replicas": 1}`}),
			[]string{"posthog-deploy:pgbouncer.replicas: invalid value 1: must be at least 2 in prod"}},
		{"monitoring stack unknown", valid("dev", map[string]string{"monitoring": `{"stack": "grafana-cloud"}`}),
			[]string{`posthog-deploy:monitoring.stack: invalid value "grafana-cloud": must be "install" (the stack installs kube-prometheus-stack) or "existing"`}},
		{"monitoring installed on local", valid("dev", map[string]string{"monitoring": `{"stack": "install"}`}),
			[]string{`posthog-deploy:monitoring.stack: invalid value "install": must be "existing" on local`}},
		{"monitoring label not a label", valid("dev", map[string]string{"monitoring": `{"labels": {"release": "kube prometheus"}}`}),
			[]string{`posthog-deploy:monitoring.labels.release: invalid value "kube prometheus": must be a Kubernetes label`}},
		{"integrity check schedule", valid("dev", map[string]string{"monitoring": `{"integritySchedule": "every 6 hours"}`}),
			[]string{`posthog-deploy:monitoring.integritySchedule: invalid value "every 6 hours": must be a cron schedule of five fields`}},
		{"backup slack", valid("dev", map[string]string{"monitoring": `{"backupSlackHours": 0}`}),
			[]string{"posthog-deploy:monitoring.backupSlackHours: invalid value 0: must be from 1 to 48"}},
		{"secret missing", func() source { s := valid("dev", nil); delete(s.values, "secretKey"); return s }(),
			[]string{"posthog-deploy:secretKey: is required: set it with `pulumi config set --secret posthog-deploy:secretKey <value>`"}},
		{"secret in plain text", func() source { s := valid("dev", nil); s.secrets["postgresPassword"] = false; return s }(),
			[]string{"posthog-deploy:postgresPassword: must be a secret, not plain text"}},
		{"secret too short", func() source { s := valid("dev", nil); s.values["clickhousePassword"] = "hunter2"; return s }(),
			[]string{"posthog-deploy:clickhousePassword: must be at least 16 characters long (the value is not shown)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.src)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a secret value: %v", err)
			}
		})
	}
}

func TestAllErrorsReportedTogether(t *testing.T) {
	_, err := Parse(valid("prod", map[string]string{
		"zookeeper":  `{"replicas": 1, "snapRetainCount": 1}`,
		"clickhouse": `{"replicas": 1}`,
	}))
	errs, ok := err.(Errors)
	if !ok || len(errs) != 3 {
		t.Fatalf("want 3 field errors, got %v", err)
	}
}

// validCloud is a minimal good stack on a cloud.
func validCloud(cloud, env string, extra map[string]string) source {
	s := valid(env, map[string]string{"cloud": cloud, "region": map[string]string{
		"aws": "eu-west-1", "gcp": "europe-west1", "digitalocean": "ams3", "azure": "westeurope"}[cloud]})
	if cloud == "gcp" {
		s.values["project"] = "acme-analytics"
	}
	if cloud != "local" {
		s.values["objectStore"] = `{"bucketPrefix": "acme-posthog-` + env + `"}`
		s.values["posthog"] = `{"acmeEmail": "ops@acme.example"}`
	}
	if env != "dev" {
		s.values["cluster"] = `{"apiAllowedCidrs": ["203.0.113.0/24"]}`
	}
	for k, v := range extra {
		s.values[k] = v
	}
	// Azure's local accounts are off: a stack names its admins' group.
	if cluster := s.values["cluster"]; cloud == "azure" && !strings.Contains(cluster, `"admins"`) {
		if cluster == "" {
			cluster = "{}"
		}
		s.values["cluster"] = `{"admins": ["` + azureAdmins + `"], ` + strings.TrimPrefix(strings.TrimSuffix(cluster, "}"), "{") + "}"
		s.values["cluster"] = strings.Replace(s.values["cluster"], `"], }`, `"]}`, 1)
	}
	return s
}

// azureAdmins is an Entra ID group's object id in the valid Azure stacks.
const azureAdmins = "0b8f3c52-6f1e-4c8e-9d7a-2f4e5a6b7c8d"

func TestCloudDefaults(t *testing.T) {
	for _, cloud := range []string{"aws", "gcp", "digitalocean", "azure"} {
		for _, env := range []string{"dev", "staging", "prod"} {
			c, err := Parse(validCloud(cloud, env, nil))
			if err != nil {
				t.Fatalf("%s %s: %v", cloud, env, err)
			}
			wantZones := map[string]int{"aws": 3, "gcp": 3, "digitalocean": 0, "azure": 3}[cloud]
			if len(c.Zones) != wantZones || c.Cluster.SpreadZones != (wantZones > 0) {
				t.Errorf("%s: zones %v, spreadZones %v", cloud, c.Zones, c.Cluster.SpreadZones)
			}
			if c.Postgres.BackupRetentionDays < 7 || env == "prod" && (c.Postgres.BackupRetentionDays < 14 || !c.Postgres.HighAvailability) {
				t.Errorf("%s %s postgres %+v", cloud, env, c.Postgres)
			}
		}
	}
	c, _ := Parse(validCloud("gcp", "prod", nil))
	if c.Zones[0] != "europe-west1-b" {
		t.Errorf("gcp zones %v", c.Zones)
	}
	// The defaults are what each cloud accepts: a storage size Azure offers, at least the
	// storage a DigitalOcean database size includes, a Kubernetes version in standard support.
	for _, tc := range []struct{ cloud, env, storage, version string }{
		{"azure", "dev", "32Gi", "1.36"}, {"azure", "staging", "128Gi", "1.36"},
		{"digitalocean", "dev", "30Gi", "1.36"}, {"digitalocean", "staging", "100Gi", "1.36"},
		{"aws", "dev", "20Gi", "1.36"}, {"gcp", "prod", "100Gi", "1.36"},
	} {
		c, err := Parse(validCloud(tc.cloud, tc.env, nil))
		if err != nil || c.Postgres.Storage != tc.storage || c.Cluster.Version != tc.version {
			t.Errorf("%s %s: storage %q, version %q (%v); want %s, %s", tc.cloud, tc.env, c.Postgres.Storage, c.Cluster.Version, err, tc.storage, tc.version)
		}
	}
}

func TestBadCloudConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  source
		want string
	}{
		{"no region", func() source { s := validCloud("aws", "dev", nil); delete(s.values, "region"); return s }(),
			`posthog-deploy:region: is required for aws, such as "us-east-1"`},
		{"unknown region", validCloud("aws", "dev", map[string]string{"region": "mars-north-1"}),
			`posthog-deploy:region: invalid value "mars-north-1": must be one of the aws regions this project deploys to`},
		{"a two-zone region", validCloud("aws", "dev", map[string]string{"region": "us-west-1"}),
			`posthog-deploy:region: invalid value "us-west-1"`},
		{"gcp without project", func() source { s := validCloud("gcp", "dev", nil); delete(s.values, "project"); return s }(),
			`posthog-deploy:project: invalid value "": is required on gcp`},
		{"project off gcp", validCloud("azure", "dev", map[string]string{"project": "x"}),
			`posthog-deploy:project: invalid value "x": is only for a cloud with projects (gcp)`},
		{"prod API open to the world", validCloud("gcp", "prod", map[string]string{"cluster": `{"apiAllowedCidrs": ["0.0.0.0/0"]}`}),
			`posthog-deploy:cluster.apiAllowedCidrs[0]: invalid value "0.0.0.0/0": must not open the cluster's API to the whole internet in prod`},
		{"admin not an IAM ARN", validCloud("aws", "dev", map[string]string{"cluster": `{"admins": ["arn:aws:sts::123456789012:assumed-role/ci/session"]}`}),
			`posthog-deploy:cluster.admins[0]: invalid value "arn:aws:sts::123456789012:assumed-role/ci/session": must be an IAM role or user ARN, such as arn:aws:iam::123456789012:role/ci-deploy`},
		{"admin twice", validCloud("aws", "dev", map[string]string{"cluster": `{"admins": ["arn:aws:iam::123456789012:role/ci", "arn:aws:iam::123456789012:role/ci"]}`}),
			`posthog-deploy:cluster.admins[1]: invalid value "arn:aws:iam::123456789012:role/ci": is listed twice`},
		{"no admins where local accounts are off", validCloud("azure", "dev", map[string]string{"cluster": `{"admins": []}`}),
			`posthog-deploy:cluster.admins: is required on azure: who administers the cluster (a Microsoft Entra group's object id each; nobody else can reach it), such as 0b8f3c52-6f1e-4c8e-9d7a-2f4e5a6b7c8d`},
		{"admin not a group id", validCloud("azure", "dev", map[string]string{"cluster": `{"admins": ["ops@acme.example"]}`}),
			`posthog-deploy:cluster.admins[0]: invalid value "ops@acme.example": must be a Microsoft Entra group's object id, such as 0b8f3c52-6f1e-4c8e-9d7a-2f4e5a6b7c8d`},
		{"admins where IAM decides", validCloud("gcp", "dev", map[string]string{"cluster": `{"admins": ["alice@example.com"]}`}),
			`posthog-deploy:cluster.admins[0]: invalid value "alice@example.com": is not for gcp: its IAM already decides who reaches the cluster (docs/clouds.md)`},
		{"staging API unrestricted", validCloud("aws", "staging", map[string]string{"cluster": `{}`}),
			`posthog-deploy:cluster.apiAllowedCidrs: is required in staging`},
		{"bad CIDR", validCloud("digitalocean", "dev", map[string]string{"cluster": `{"networkCidr": "10.0.0.1/16"}`}),
			`posthog-deploy:cluster.networkCidr: invalid value "10.0.0.1/16": must be an IPv4 network from /8 to /16`},
		{"no bucket prefix", func() source { s := validCloud("gcp", "dev", nil); delete(s.values, "objectStore"); return s }(),
			`posthog-deploy:objectStore.bucketPrefix: is required on a cloud: its buckets (and Azure's storage account and database) take names that are global`},
		{"Let's Encrypt without an address", validCloud("aws", "dev", map[string]string{"posthog": `{}`}),
			`posthog-deploy:posthog.acmeEmail: invalid value "": is required with posthog.tls letsencrypt`},
		{"plain HTTP on a cloud", validCloud("gcp", "dev", map[string]string{"posthog": `{"tls": "none"}`}),
			`posthog-deploy:posthog.tls: invalid value "none": must be letsencrypt or secret on a cloud`},
		{"an owner's certificate without its name", validCloud("azure", "dev", map[string]string{"posthog": `{"tls": "secret"}`}),
			`posthog-deploy:posthog.tlsSecret: invalid value "": is required with posthog.tls secret`},
		{"an unknown certificate source", validCloud("aws", "dev", map[string]string{"posthog": `{"tls": "acme"}`}),
			`posthog-deploy:posthog.tls: invalid value "acme": must be letsencrypt, secret, or none (local only)`},
		{"a bad allow-list", validCloud("aws", "dev", map[string]string{"posthog": `{"acmeEmail": "ops@acme.example", "allowedSourceRanges": ["203.0.113.7/24"]}`}),
			`posthog-deploy:posthog.allowedSourceRanges[0]: invalid value "203.0.113.7/24": must be a network such as 203.0.113.0/24`},
		{"an allow-list behind DigitalOcean's proxying balancer", validCloud("digitalocean", "dev", map[string]string{"posthog": `{"acmeEmail": "ops@acme.example", "allowedSourceRanges": ["203.0.113.0/24"]}`}),
			`posthog-deploy:posthog.allowedSourceRanges: invalid value [203.0.113.0/24]: must admit everyone (0.0.0.0/0) on digitalocean`},
		{"network over AKS's pods", validCloud("azure", "dev", map[string]string{"cluster": `{"networkCidr": "10.244.0.0/16"}`}),
			`posthog-deploy:cluster.networkCidr: invalid value "10.244.0.0/16": must not overlap the cluster's pods range 10.244.0.0/16: choose another network`},
		{"network over GKE's services", validCloud("gcp", "dev", map[string]string{"cluster": `{"networkCidr": "10.64.0.0/12"}`}),
			`posthog-deploy:cluster.networkCidr: invalid value "10.64.0.0/12": must not overlap the cluster's services range 10.68.0.0/20`},
		{"Kubernetes past standard support", validCloud("azure", "dev", map[string]string{"cluster": `{"version": "1.31"}`}),
			`posthog-deploy:cluster.version: invalid value "1.31": must be a version azure creates clusters on in standard support: "1.35" (until 2027-03-31), "1.36" (until 2027-06-30) (as of 2026-11-24: AKS`},
		{"a storage size Azure does not offer", validCloud("azure", "dev", map[string]string{"postgres": `{"storage": "100Gi"}`}),
			`posthog-deploy:postgres.storage: invalid value "100Gi": must be one of the sizes azure's database accepts: 32Gi, 64Gi, 128Gi, 256Gi,`},
		{"below a DigitalOcean size's storage", validCloud("digitalocean", "dev", map[string]string{"postgres": `{"storage": "20Gi"}`}),
			`posthog-deploy:postgres.storage: invalid value "20Gi": must be at least 30Gi, the storage db-s-1vcpu-2gb includes`},
		{"bad version", validCloud("aws", "dev", map[string]string{"cluster": `{"version": "1.31.2"}`}),
			`posthog-deploy:cluster.version: invalid value "1.31.2": must be a Kubernetes minor version`},
		{"too few nodes for the replicas", validCloud("azure", "prod", map[string]string{"cluster": `{"apiAllowedCidrs": ["203.0.113.0/24"], "clickhouse": {"machineType": "Standard_E8s_v5", "min": 2, "max": 3}}`}),
			`posthog-deploy:cluster.clickhouse.max: invalid value 3: must be at least clickhouse.shards × clickhouse.replicas (4)`},
		{"prod with one general node", validCloud("aws", "prod", map[string]string{"cluster": `{"apiAllowedCidrs": ["203.0.113.0/24"], "general": {"machineType": "m6i.xlarge", "min": 1, "max": 4}}`}),
			`posthog-deploy:cluster.general.min: invalid value 1: must be at least 3 in prod`},
		{"retention 0", validCloud("gcp", "dev", map[string]string{"postgres": `{"backupRetentionDays": 0}`}),
			`posthog-deploy:postgres.backupRetentionDays: invalid value 0: must be from 7 to 35 in dev`},
		{"prod retention a week", validCloud("aws", "prod", map[string]string{"postgres": `{"backupRetentionDays": 7}`}),
			`posthog-deploy:postgres.backupRetentionDays: invalid value 7: must be from 14 to 35 in prod`},
		{"prod database without HA", validCloud("azure", "prod", map[string]string{"postgres": `{"highAvailability": false}`}),
			`posthog-deploy:postgres.highAvailability: invalid value false: must be true in prod`},
		{"burstable HA on azure", validCloud("azure", "prod", map[string]string{"postgres": `{"instanceClass": "Standard_B2s"}`}),
			`posthog-deploy:postgres.instanceClass: invalid value "Standard_B2s": must not be a burstable`},
		{"tiny database disk", validCloud("digitalocean", "dev", map[string]string{"postgres": `{"storage": "10Gi"}`}),
			`posthog-deploy:postgres.storage: invalid value "10Gi": must be whole Gi, at least 20Gi, on a cloud`},
		{"unknown postgres version", validCloud("gcp", "dev", map[string]string{"postgres": `{"version": "9.6"}`}),
			`posthog-deploy:postgres.version: invalid value "9.6": must be one of 14 for PostHog 1.43.0`},
		{"postgres newer than the release accepts", validCloud("aws", "dev", map[string]string{"postgres": `{"version": "15"}`}),
			`posthog-deploy:postgres.version: invalid value "15": must be one of 14 for PostHog 1.43.0`},
		{"old versions kept a day", validCloud("aws", "dev", map[string]string{"objectStore": `{"noncurrentVersionDays": 1}`}),
			`posthog-deploy:objectStore.noncurrentVersionDays: invalid value 1: must be from 7 to 365`},
		{"bad bucket prefix", validCloud("gcp", "dev", map[string]string{"objectStore": `{"bucketPrefix": "Acme_PostHog"}`}),
			`posthog-deploy:objectStore.bucketPrefix: invalid value "Acme_PostHog": must be 3 to 40 lower-case letters`},
		{"azure account name too long", validCloud("azure", "dev", map[string]string{"objectStore": `{"bucketPrefix": "acme-analytics-posthog-production"}`}),
			`posthog-deploy:objectStore.bucketPrefix: invalid value "acme-analytics-posthog-production": must have at most 24 letters and digits on azure`},
		{"zone spread on digitalocean", validCloud("digitalocean", "dev", map[string]string{"cluster": `{"spreadZones": true}`}),
			`posthog-deploy:cluster.spreadZones: invalid value true: must be false on digitalocean`},
		{"cold storage on azure", validCloud("azure", "dev", map[string]string{"clickhouse": `{"coldStorage": {"enabled": true}}`}),
			`posthog-deploy:clickhouse.coldStorage.enabled: invalid value true: is not available on azure`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.src)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}

func TestSecretsPerCloud(t *testing.T) {
	s := validCloud("digitalocean", "dev", nil)
	delete(s.values, "postgresPassword")
	delete(s.values, "objectStoreSecretKey")
	if _, err := Parse(s); err != nil {
		t.Errorf("digitalocean generates the database password and has no object store key of ours: %v", err)
	}
	s = validCloud("aws", "dev", nil)
	delete(s.values, "postgresPassword")
	if _, err := Parse(s); err == nil || !strings.Contains(err.Error(), "posthog-deploy:postgresPassword: is required") {
		t.Errorf("aws without a database password: %v", err)
	}
}

// Every cloud's plan, for every network size config allows and up to three zones, carves
// subnets that lie in the network and never overlap (EC2 refuses the second of two overlapping
// subnets with InvalidSubnet.Conflict), and keeps the cluster's own ranges clear of it.
func TestAddressPlansNeverOverlap(t *testing.T) {
	for _, f := range Registry {
		if f.Plan == nil {
			continue
		}
		for _, network := range []string{"10.0.0.0/16", "10.16.0.0/12", "10.200.0.0/16", "192.168.0.0/16"} {
			for zones := 1; zones <= 3; zones++ {
				a := f.Plan(network, zones)
				if errs := a.validate(); len(errs) > 0 {
					t.Errorf("%s %s, %d zones: %v", f.Cloud, network, zones, errs)
				}
				if f.Cloud == AWS && len(a.Inside) != 2*zones {
					t.Errorf("aws %s: %d subnets for %d zones, want a private and a public one each", network, len(a.Inside), zones)
				}
			}
		}
	}
	// The plan the AWS stacks had: its public /22s lay inside the second private /19.
	old := Addresses{Network: "10.0.0.0/16", Inside: []Range{
		{"private-0", Subnet("10.0.0.0/16", 3, 0)}, {"private-1", Subnet("10.0.0.0/16", 3, 1)},
		{"public-0", Subnet("10.0.0.0/16", 6, 12)}}}
	if errs := old.validate(); len(errs) != 1 || !strings.Contains(errs.Error(),
		"gives overlapping subnets: private-1 10.0.32.0/19 and public-0 10.0.48.0/22") {
		t.Errorf("the old AWS plan was not refused: %v", errs)
	}
}

// Every cloud's facts are complete and dated: its Kubernetes and PostgreSQL versions, each with
// the last day of standard support, and the PostgreSQL versions among those PostHog accepts.
func TestCloudFactsAreDatedAndSourced(t *testing.T) {
	for _, f := range Registry {
		if f.StandIns {
			continue
		}
		if len(f.Kubernetes) == 0 || f.KubernetesSource == "" || len(f.Postgres) == 0 || f.PostgresSource == "" {
			t.Errorf("%s: versions or their sources missing", f.Cloud)
		}
		for _, v := range append(append([]Support{}, f.Kubernetes...), f.Postgres...) {
			if _, err := time.Parse(time.DateOnly, v.Ends); err != nil {
				t.Errorf("%s: %s ends %q: %v", f.Cloud, v.Version, v.Ends, err)
			}
		}
		for _, v := range f.Postgres {
			if !slices.Contains(Current().ManagedPostgres.Versions, v.Version) {
				t.Errorf("%s: PostgreSQL %s is not one PostHog %s accepts", f.Cloud, v.Version, CurrentRelease)
			}
		}
		if (f.DatabaseSizesGi != nil || f.DatabaseBaseGi != nil) && f.DatabaseSource == "" {
			t.Errorf("%s: database sizes without a source", f.Cloud)
		}
	}
}

func TestCronGapIsTheLongestWaitBetweenRuns(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		want     time.Duration
	}{
		{"0 2 * * *", 24 * time.Hour},
		{"30 */6 * * *", 6 * time.Hour},
		// Weekdays only: Friday 02:00 to Monday 02:00.
		{"0 2 * * 1-5", 72 * time.Hour},
		{"0 2,14 * * *", 12 * time.Hour},
		// The 31st: from May 31st to July 31st (61 days; January to March is 60 in a leap year).
		{"0 0 31 * *", 61 * 24 * time.Hour},
	} {
		got, err := CronGap(tc.schedule)
		if err != nil || got != tc.want {
			t.Errorf("CronGap(%q) = %v, %v; want %v", tc.schedule, got, err, tc.want)
		}
	}
	if _, err := CronGap("0 0 30 2 *"); err == nil {
		t.Error("CronGap accepted a schedule that never runs (February 30th)")
	}
}

func TestMonitoringIsOnInStagingAndProd(t *testing.T) {
	for _, env := range Environments {
		for _, cloud := range Clouds() {
			m := Defaults(cloud, env).Monitoring
			if m.Enabled != (env != Dev) {
				t.Errorf("%s/%s: monitoring.enabled defaults to %t", cloud, env, m.Enabled)
			}
			want := MonitoringInstall
			if Facts(cloud).StandIns {
				want = MonitoringExisting
			}
			if m.Stack != want {
				t.Errorf("%s/%s: monitoring.stack defaults to %q, want %q", cloud, env, m.Stack, want)
			}
		}
	}
}

// Every Kubernetes version an EKS stack may run has its own cluster-autoscaler release pinned: the
// autoscaler supports its own minor version only.
func TestEveryEKSVersionHasItsAutoscaler(t *testing.T) {
	for _, v := range Facts(AWS).Kubernetes {
		tag, ok := ClusterAutoscalerImages[v.Version]
		if !ok || !strings.HasPrefix(tag, "v"+v.Version+".") {
			t.Errorf("EKS %s: cluster-autoscaler image %q, want v%s.<patch>", v.Version, tag, v.Version)
		}
	}
}
