package platform_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"gopkg.in/yaml.v3"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/platform/capture"
)

// cloudStack is one shipped cloud stack file, run under mocks.
type cloudStack struct {
	name, cloud, env string
	rs               []capture.Resource
}

func cloudStacks(t *testing.T) []cloudStack {
	t.Helper()
	var out []cloudStack
	for _, s := range allStacks(t) {
		if s.cloud != "local" {
			out = append(out, cloudStack{name: s.name, cloud: s.cloud, env: s.env, rs: s.rs})
		}
	}
	if len(out) != 12 {
		t.Fatalf("want 12 cloud stacks (4 clouds × dev, staging, prod), found %d", len(out))
	}
	return out
}

func num(v resource.PropertyValue) float64 {
	if v.IsNumber() {
		return v.NumberValue()
	}
	return -1
}

func boolean(v resource.PropertyValue) (value, set bool) {
	if v.IsBool() {
		return v.BoolValue(), true
	}
	return false, false
}

func only(t *testing.T, rs []capture.Resource, typ string) capture.Resource {
	t.Helper()
	found := ofType(rs, typ)
	if len(found) != 1 {
		t.Fatalf("want one %s, found %d", typ, len(found))
	}
	for _, r := range found {
		return r
	}
	return capture.Resource{}
}

// unused are data types the guard knows but no stack creates (an older bucket API, Aurora).
var unused = []string{"aws:s3/bucket:Bucket", "aws:rds/cluster:Cluster"}

func TestCloudStacks(t *testing.T) {
	for _, s := range cloudStacks(t) {
		t.Run(s.name, func(t *testing.T) {
			prod, ha := s.env == "prod", s.env != "dev"
			rs := s.rs
			// Every data resource is protected in staging and prod, and only there.
			for _, typ := range config.Facts(config.Cloud(s.cloud)).DataTypes {
				found := ofType(rs, typ)
				if len(found) == 0 && !slices.Contains(unused, typ) {
					t.Errorf("no %s", typ)
				}
				for name, r := range found {
					if r.Protect != ha {
						t.Errorf("%s %s: protect = %v in %s", typ, name, r.Protect, s.env)
					}
				}
			}
			// The data plane landed on the new cluster with the cloud's storage class, its
			// ClickHouse replicas on their dedicated pool, and the cloud's endpoints in PostHog's settings.
			// A dev stack goes whole with `pulumi destroy`: its volumes with their claims and its
			// buckets with their objects. Anywhere else both stay.
			sc := only(t, rs, "kubernetes:storage.k8s.io/v1:StorageClass")
			if want := map[bool]string{true: "Retain", false: "Delete"}[ha]; str(get(obj(sc), "reclaimPolicy")) != want ||
				str(get(obj(sc), "volumeBindingMode")) != "WaitForFirstConsumer" {
				t.Errorf("storage class %v, want reclaimPolicy %s", sc.Inputs, want)
			}
			for _, typ := range []string{"aws:s3/bucketV2:BucketV2", "gcp:storage/bucket:Bucket", "digitalocean:index/spacesBucket:SpacesBucket"} {
				for name, b := range ofType(rs, typ) {
					if force, _ := boolean(get(obj(b), "forceDestroy")); force == ha {
						t.Errorf("bucket %s forceDestroy %v in %s", name, force, s.env)
					}
				}
			}
			for name, sts := range ofType(rs, "kubernetes:apps/v1:StatefulSet") {
				claims := get(obj(sts), "spec", "volumeClaimTemplates")
				if !claims.IsArray() || str(get(claims.ArrayValue()[0], "spec", "storageClassName")) != "posthog-data" {
					t.Errorf("%s does not claim volumes of the cloud's storage class: %v", name, claims)
				}
				pod := get(obj(sts), "spec", "template", "spec")
				if strings.HasPrefix(name, "chi-") && str(get(pod, "nodeSelector", "posthog.com/pool")) != "clickhouse" {
					t.Errorf("%s is not on the clickhouse pool", name)
				}
			}
			settings := ofType(rs, "kubernetes:core/v1:ConfigMap")["posthog"]
			endpoint := str(get(obj(settings), "data", "OBJECT_STORAGE_ENDPOINT"))
			bucket := str(get(obj(settings), "data", "OBJECT_STORAGE_BUCKET"))
			if s.cloud != "azure" && (endpoint == "" || !strings.HasSuffix(bucket, "-data")) {
				t.Errorf("PostHog's object storage: endpoint %q bucket %q", endpoint, bucket)
			}
			if want := map[string]string{"aws": "amazonaws.com", "gcp": "storage.googleapis.com", "digitalocean": "digitaloceanspaces.com"}[s.cloud]; !strings.Contains(endpoint, want) {
				t.Errorf("endpoint %q is not %s's", endpoint, s.cloud)
			}
			ns := only(t, rs, "kubernetes:core/v1:Namespace")
			if ns.Protect != ha {
				t.Errorf("namespace protect = %v", ns.Protect)
			}

			checkKubeconfig(t, rs, s.cloud)
			switch s.cloud {
			case "aws":
				checkAWS(t, rs, s.env)
			case "gcp":
				checkGCP(t, rs, s.env)
			case "digitalocean":
				checkDigitalOcean(t, rs, s.env, prod, ha)
			case "azure":
				checkAzure(t, rs, s.env)
			}
		})
	}
}

func checkAWS(t *testing.T, rs []capture.Resource, env string) {
	prod, ha := env == "prod", env != "dev"
	eks := obj(only(t, rs, "aws:eks/cluster:Cluster"))
	if v := str(get(eks, "version")); v != "1.36" {
		t.Errorf("EKS version %q, want 1.36 as EKS's version list answers it", v)
	}
	if enc := get(eks, "encryptionConfig", "resources"); !enc.IsArray() || enc.ArrayValue()[0].StringValue() != "secrets" {
		t.Errorf("EKS secrets not KMS-encrypted: %v", enc)
	}
	cidrs := get(eks, "vpcConfig", "publicAccessCidrs")
	if ha && (!cidrs.IsArray() || slices.ContainsFunc(cidrs.ArrayValue(), func(v resource.PropertyValue) bool { return v.StringValue() == "0.0.0.0/0" })) {
		t.Errorf("EKS API open to the world in %s: %v", env, cidrs)
	}
	if n := len(ofType(rs, "aws:ec2/subnet:Subnet")); n != 6 {
		t.Errorf("%d subnets, want a public and a private one in each of 3 zones", n)
	}
	if n, want := len(ofType(rs, "aws:ec2/natGateway:NatGateway")), map[bool]int{false: 1, true: 3}[ha]; n != want {
		t.Errorf("%d NAT gateways, want %d", n, want)
	}
	if len(ofType(rs, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")) != 1 || len(ofType(rs, "aws:eks/nodeGroup:NodeGroup")) != 2 {
		t.Error("want an OIDC provider (IRSA) and two node groups")
	}
	db := obj(only(t, rs, "aws:rds/instance:Instance"))
	if days := num(get(db, "backupRetentionPeriod")); days < 7 || prod && days < 14 {
		t.Errorf("RDS keeps backups %v days", days)
	}
	for key, want := range map[string]bool{"storageEncrypted": true, "publiclyAccessible": false, "multiAz": prod,
		"deletionProtection": ha, "skipFinalSnapshot": !ha} {
		if got, _ := boolean(get(db, key)); got != want {
			t.Errorf("RDS %s = %v, want %v", key, got, want)
		}
	}
	params := obj(only(t, rs, "aws:rds/parameterGroup:ParameterGroup"))
	if str(get(params, "family")) != "postgres14" || !strings.Contains(fmt.Sprint(get(params, "parameters")), "rds.force_ssl") {
		t.Errorf("RDS accepts connections without TLS: %v", params)
	}
	if len(ofType(rs, "aws:s3/bucketV2:BucketV2")) != 2 {
		t.Error("want two buckets")
	}
	for _, typ := range []string{"aws:s3/bucketVersioningV2:BucketVersioningV2", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
		"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
		"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"} {
		for name, r := range ofType(rs, typ) {
			if !slices.ContainsFunc(r.PropertyDependencies["bucket"], func(u string) bool { return strings.Contains(u, "BucketV2::") }) {
				t.Errorf("%s %s is not tied to its bucket", typ, name)
			}
		}
		if len(ofType(rs, typ)) != 2 {
			t.Errorf("want a %s per bucket", typ)
		}
	}
	for _, v := range ofType(rs, "aws:s3/bucketVersioningV2:BucketVersioningV2") {
		if str(get(obj(v), "versioningConfiguration", "status")) != "Enabled" {
			t.Error("bucket versioning not Enabled")
		}
	}
	sa := ofType(rs, "kubernetes:core/v1:ServiceAccount")["posthog-storage"]
	if !get(obj(sa), "metadata", "annotations", "eks.amazonaws.com/role-arn").IsString() {
		t.Errorf("the buckets' service account has no IRSA role: %v", sa.Inputs)
	}
	checkAWSIdentities(t, rs, env)
}

// checkAWSIdentities: what the cluster's, the buckets' and the autoscaler's roles may do.
func checkAWSIdentities(t *testing.T, rs []capture.Resource, env string) {
	policies := map[string]string{}
	for name, p := range ofType(rs, "aws:iam/rolePolicy:RolePolicy") {
		policies[name] = str(get(obj(p), "policy"))
	}
	name := "posthog-" + env
	// The cluster's role can use the Secrets' envelope key (terraform-aws-eks attaches the same).
	enc := policies[name+"-cluster-encryption"]
	for _, action := range []string{"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"} {
		if !strings.Contains(enc, `"`+action+`"`) {
			t.Errorf("the cluster role cannot %s with the Secrets' key: %q", action, enc)
		}
	}
	eks := only(t, rs, "aws:eks/cluster:Cluster")
	if !slices.ContainsFunc(eks.DependsOn, func(u string) bool { return strings.HasSuffix(u, "::"+name+"-cluster-encryption") }) {
		t.Errorf("the cluster is created before its role may use the key: depends on %v", eks.DependsOn)
	}
	// The buckets' role can abort an upload, and never delete an old version or see whether the
	// bucket keeps them (so that clickhouse-backup deletes with markers).
	buckets := policies["posthog-storage"]
	if !strings.Contains(buckets, `"s3:AbortMultipartUpload"`) {
		t.Errorf("clickhouse-backup cannot abort a failed multipart upload: %s", buckets)
	}
	for _, never := range []string{"s3:DeleteObjectVersion", "s3:GetBucketVersioning", "s3:*"} {
		if strings.Contains(buckets, `"`+never+`"`) {
			t.Errorf("the buckets' role may %s: %s", never, buckets)
		}
	}
	// PostHog acts as its own role, on the data bucket alone; ClickHouse's role reaches both.
	if p := policies["posthog-objects"]; !strings.Contains(p, "-data") || strings.Contains(p, "-backups") {
		t.Errorf("PostHog's role: %s", p)
	}
	if p := policies["posthog-storage"]; !strings.Contains(p, "-data") || !strings.Contains(p, "-backups") {
		t.Errorf("ClickHouse's role: %s", p)
	}
	accounts := ofType(rs, "kubernetes:core/v1:ServiceAccount")
	if !get(obj(accounts["posthog-objects"]), "metadata", "annotations", "eks.amazonaws.com/role-arn").IsString() {
		t.Errorf("PostHog's service account has no IRSA role: %v", accounts["posthog-objects"].Inputs)
	}
	for name, d := range ofType(rs, "kubernetes:apps/v1:Deployment") {
		sa := str(get(obj(d), "spec", "template", "spec", "serviceAccountName"))
		if strings.HasPrefix(name, "posthog-") && sa != "posthog-objects" {
			t.Errorf("PostHog's %s runs as %q, want posthog-objects", name, sa)
		}
		if sa == "posthog-storage" {
			t.Errorf("%s runs as ClickHouse's identity", name)
		}
	}
	// Cluster Autoscaler, of the cluster's minor version, as its own IRSA role, changing only
	// this cluster's node groups.
	release := obj(ofType(rs, "kubernetes:helm.sh/v3:Release")["cluster-autoscaler"])
	for path, want := range map[string]string{"autoDiscovery.clusterName": name, "image.tag": "v1.36.1", "awsRegion": "us-east-1",
		"rbac.serviceAccount.name": "cluster-autoscaler", "cloudProvider": "aws"} {
		if got := str(get(release, append([]string{"values"}, strings.Split(path, ".")...)...)); got != want {
			t.Errorf("cluster-autoscaler %s = %q, want %q", path, got, want)
		}
	}
	if str(get(release, "version")) != "9.59.0" || str(get(release, "namespace")) != "kube-system" {
		t.Errorf("cluster-autoscaler chart %v in %v", get(release, "version"), get(release, "namespace"))
	}
	scaler := policies[name+"-cluster-autoscaler"]
	if !strings.Contains(scaler, `"autoscaling:SetDesiredCapacity"`) || !strings.Contains(scaler, "aws:ResourceTag/k8s.io/cluster-autoscaler/"+name) {
		t.Errorf("the autoscaler's role: %s", scaler)
	}
	trust := str(get(obj(ofType(rs, "aws:iam/role:Role")[name+"-cluster-autoscaler"]), "assumeRolePolicy"))
	if !strings.Contains(trust, "system:serviceaccount:kube-system:cluster-autoscaler") {
		t.Errorf("the autoscaler's role trusts %s", trust)
	}
}

// EKS gives cluster-admin to the principals cluster.admins names, through access entries, besides
// the one that created the cluster.
func TestEKSAdminsFromConfig(t *testing.T) {
	cfg, err := capture.StackFile("../stacks/Pulumi.aws-prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	admins := []string{"arn:aws:iam::123456789012:role/ci-deploy", "arn:aws:iam::123456789012:user/alice"}
	cfg.Values["posthog-deploy:cluster"] = `{"apiAllowedCidrs": ["203.0.113.0/24"], "admins": ["` + strings.Join(admins, `", "`) + `"]}`
	rs, err := capture.Run("aws-prod", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var entries, associations []string
	for _, e := range ofType(rs, "aws:eks/accessEntry:AccessEntry") {
		entries = append(entries, str(get(obj(e), "principalArn")))
	}
	for _, a := range ofType(rs, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation") {
		if str(get(obj(a), "policyArn")) != "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" ||
			str(get(obj(a), "accessScope", "type")) != "cluster" {
			t.Errorf("access policy %v", a.Inputs)
		}
		associations = append(associations, a.Name)
	}
	slices.Sort(entries)
	if !slices.Equal(entries, admins) || len(associations) != 2 {
		t.Errorf("access entries %v (%d associations), want %v", entries, len(associations), admins)
	}
	if creator, _ := boolean(get(obj(only(t, rs, "aws:eks/cluster:Cluster")), "accessConfig", "bootstrapClusterCreatorAdminPermissions")); !creator {
		t.Error("the cluster's creator is no longer its admin")
	}
}

func checkGCP(t *testing.T, rs []capture.Resource, env string) {
	prod, ha := env == "prod", env != "dev"
	gke := obj(only(t, rs, "gcp:container/cluster:Cluster"))
	if v := str(get(gke, "minMasterVersion")); v != "1.36" {
		t.Errorf("GKE minMasterVersion %q, want 1.36, checked against GKE's version list", v)
	}
	if str(get(gke, "workloadIdentityConfig", "workloadPool")) != "acme-posthog-"+env+".svc.id.goog" {
		t.Errorf("GKE workload pool %v", get(gke, "workloadIdentityConfig"))
	}
	if on, _ := boolean(get(gke, "enableShieldedNodes")); !on {
		t.Error("GKE nodes not shielded")
	}
	if private, _ := boolean(get(gke, "privateClusterConfig", "enablePrivateNodes")); !private {
		t.Error("GKE nodes have public IPs")
	}
	if regional := !strings.HasSuffix(str(get(gke, "location")), "-a"); regional != ha {
		t.Errorf("GKE location %q in %s", str(get(gke, "location")), env)
	}
	sql := obj(only(t, rs, "gcp:sql/databaseInstance:DatabaseInstance"))
	backups := get(sql, "settings", "backupConfiguration")
	for _, key := range []string{"enabled", "pointInTimeRecoveryEnabled"} {
		if on, _ := boolean(get(backups, key)); !on {
			t.Errorf("Cloud SQL backupConfiguration.%s not true", key)
		}
	}
	if kept := num(get(backups, "backupRetentionSettings", "retainedBackups")); kept < 7 || prod && kept < 14 {
		t.Errorf("Cloud SQL keeps %v backups", kept)
	}
	if public, set := boolean(get(sql, "settings", "ipConfiguration", "ipv4Enabled")); !set || public {
		t.Error("Cloud SQL has a public IP")
	}
	if got := str(get(sql, "settings", "availabilityType")); (got == "REGIONAL") != prod {
		t.Errorf("Cloud SQL availability %s in %s", got, env)
	}
	if p, _ := boolean(get(sql, "deletionProtection")); p != ha {
		t.Errorf("Cloud SQL deletionProtection %v in %s", p, env)
	}
	for name, b := range ofType(rs, "gcp:storage/bucket:Bucket") {
		v, _ := boolean(get(obj(b), "versioning", "enabled"))
		u, _ := boolean(get(obj(b), "uniformBucketLevelAccess"))
		if !v || !u || str(get(obj(b), "publicAccessPrevention")) != "enforced" || !get(obj(b), "lifecycleRules").IsArray() {
			t.Errorf("bucket %s: %v", name, b.Inputs)
		}
	}
	checkGCPIdentities(t, rs, env)
}

// checkGCPIdentities: who reaches the cluster and the buckets, and as what, on GCP.
func checkGCPIdentities(t *testing.T, rs []capture.Resource, environment string) {
	gke := only(t, rs, "gcp:container/cluster:Cluster")
	// The Workload Identity binding needs the project's identity pool, which the cluster creates.
	binding := only(t, rs, "gcp:serviceaccount/iAMMember:IAMMember")
	if !slices.Contains(binding.DependsOn, gke.URN) {
		t.Errorf("the Workload Identity binding does not wait for the cluster: depends on %v", binding.DependsOn)
	}
	if !strings.Contains(kubeconfig(t, rs), "--use_application_default_credentials") {
		t.Error("the kubeconfig's gke-gcloud-auth-plugin does not use the application default credentials pulumi itself uses")
	}
	if p := str(get(obj(only(t, rs, "gcp:servicenetworking/connection:Connection")), "deletionPolicy")); p != "ABANDON" {
		t.Errorf("service networking connection deletionPolicy %q: its delete fails while Cloud SQL still holds it", p)
	}
	// Nodes run as their own account with GKE's node role, never the Compute Engine default.
	nodeAccount := "posthog-" + environment + "-nodes@project.iam.gserviceaccount.com"
	for name, np := range ofType(rs, "gcp:container/nodePool:NodePool") {
		if sa := str(get(obj(np), "nodeConfig", "serviceAccount")); sa != nodeAccount {
			t.Errorf("node pool %s runs as %q, want %s", name, sa, nodeAccount)
		}
	}
	if sa := str(get(obj(gke), "nodeConfig", "serviceAccount")); sa != nodeAccount {
		t.Errorf("the cluster's default pool runs as %q", sa)
	}
	role := obj(only(t, rs, "gcp:projects/iAMMember:IAMMember"))
	if str(get(role, "role")) != "roles/container.defaultNodeServiceAccount" || str(get(role, "member")) != "serviceAccount:"+nodeAccount {
		t.Errorf("the nodes' project role: %v", role)
	}
	// Roles per bucket and account: the HMAC key's account (S3 API: PostHog, the cold tier) on
	// the data bucket only; the Workload Identity account writes backups and reads data.
	roles := map[string]string{}
	for _, m := range ofType(rs, "gcp:storage/bucketIAMMember:BucketIAMMember") {
		member := strings.TrimSuffix(strings.TrimPrefix(str(get(obj(m), "member")), "serviceAccount:"), "@project.iam.gserviceaccount.com")
		roles[str(get(obj(m), "bucket"))+" "+member] = str(get(obj(m), "role"))
	}
	prefix := "acme-posthog-gcp-" + environment
	want := map[string]string{
		prefix + "-data posthog-objects":    "roles/storage.objectUser",
		prefix + "-data posthog-storage":    "roles/storage.objectViewer",
		prefix + "-backups posthog-storage": "roles/storage.objectUser",
	}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Errorf("bucket roles %v, want %v", roles, want)
	}
	key := obj(only(t, rs, "gcp:storage/hmacKey:HmacKey"))
	if sa := str(get(key, "serviceAccountEmail")); sa != "posthog-objects@project.iam.gserviceaccount.com" {
		t.Errorf("the HMAC key belongs to %q", sa)
	}
	for name, b := range ofType(rs, "gcp:storage/bucket:Bucket") {
		if secs := num(get(obj(b), "softDeletePolicy", "retentionDurationSeconds")); secs < 7*86400 {
			t.Errorf("bucket %s keeps deleted generations %v s", name, secs)
		}
	}
	// Backups through GCS's own API as the workload identity, with no key in reach.
	if _, ok := ofType(rs, "kubernetes:core/v1:Secret")["clickhouse-backup"]; ok {
		t.Error("a clickhouse-backup key Secret exists although the backups act as their workload identity")
	}
	for name, sts := range ofType(rs, "kubernetes:apps/v1:StatefulSet") {
		if !strings.HasPrefix(name, "chi-") {
			continue
		}
		pod := get(obj(sts), "spec", "template", "spec")
		if str(get(pod, "serviceAccountName")) != "posthog-storage" {
			t.Errorf("%s does not run as the workload identity", name)
		}
		if agent := env(get(pod, "containers").ArrayValue()[1]); agent["REMOTE_STORAGE"] != "gcs" || agent["GCS_BUCKET"] != prefix+"-backups" {
			t.Errorf("%s backup agent: %v", name, agent)
		}
	}
	// PostHog holds the data bucket's key: it does not also run as the backups' identity.
	for name, d := range ofType(rs, "kubernetes:apps/v1:Deployment") {
		if sa := str(get(obj(d), "spec", "template", "spec", "serviceAccountName")); sa == "posthog-storage" {
			t.Errorf("%s runs as the backups' workload identity", name)
		}
	}
}

// kubeconfig is the kubeconfig the stack's Kubernetes provider uses.
func kubeconfig(t *testing.T, rs []capture.Resource) string {
	t.Helper()
	v := only(t, rs, "pulumi:providers:kubernetes").Inputs["kubeconfig"]
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return str(v)
}

// helpers are each cloud's own credential helper, which the kubeconfig runs for a short-lived token.
var helpers = map[string]string{"aws": "aws", "gcp": "gke-gcloud-auth-plugin", "digitalocean": "doctl", "azure": "kubelogin"}

// checkKubeconfig: the stack reaches its cluster with a token the cloud's CLI issues at each use,
// never a stored token or client certificate, which expire (DigitalOcean's after 7 days) or are
// cluster-admin for as long as they leak.
func checkKubeconfig(t *testing.T, rs []capture.Resource, cloud string) {
	var doc struct {
		Users []struct {
			User map[string]any `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal([]byte(kubeconfig(t, rs)), &doc); err != nil || len(doc.Users) != 1 {
		t.Fatalf("kubeconfig: %v, users %v", err, doc.Users)
	}
	user := doc.Users[0].User
	exec, _ := user["exec"].(map[string]any)
	if exec == nil || exec["command"] != helpers[cloud] || len(user) != 1 {
		t.Errorf("the kubeconfig's user is %v, want only an exec of %s", user, helpers[cloud])
	}
}

func checkDigitalOcean(t *testing.T, rs []capture.Resource, environment string, prod, ha bool) {
	doks := obj(only(t, rs, "digitalocean:index/kubernetesCluster:KubernetesCluster"))
	if on, _ := boolean(get(doks, "ha")); on != ha {
		t.Errorf("DOKS ha = %v", on)
	}
	if str(get(doks, "version")) != "1.36.9-do.0" {
		t.Errorf("DOKS version %q is not the newest slug of the default minor version, 1.36", str(get(doks, "version")))
	}
	db := obj(only(t, rs, "digitalocean:index/databaseCluster:DatabaseCluster"))
	if n, want := num(get(db, "nodeCount")), map[bool]float64{false: 1, true: 2}[prod]; n != want {
		t.Errorf("database nodes %v, want %v", n, want)
	}
	fw := obj(only(t, rs, "digitalocean:index/databaseFirewall:DatabaseFirewall"))
	if rules := get(fw, "rules"); !rules.IsArray() || str(get(rules.ArrayValue()[0], "type")) != "k8s" {
		t.Errorf("database trusted sources %v", rules)
	}
	for name, b := range ofType(rs, "digitalocean:index/spacesBucket:SpacesBucket") {
		if v, _ := boolean(get(obj(b), "versioning", "enabled")); !v || str(get(obj(b), "acl")) != "private" {
			t.Errorf("Spaces bucket %s: %v", name, b.Inputs)
		}
	}
	// doadmin lets PostHog's user create in its database before the migrations run.
	var setup capture.Resource
	for name, j := range ofType(rs, "kubernetes:batch/v1:Job") {
		if strings.HasPrefix(name, "postgres-setup-") {
			setup = j
		}
	}
	container := get(obj(setup), "spec", "template", "spec", "containers").ArrayValue()[0]
	if script := fmt.Sprint(get(container, "command")); !strings.Contains(script, `GRANT CREATE ON DATABASE "posthog" TO "posthog"`) ||
		env(container)["PGUSER"] != "doadmin" || env(container)["PGSSLMODE"] != "verify-ca" {
		t.Errorf("the database setup Job: %v %v", script, env(container))
	}
	for name, j := range ofType(rs, "kubernetes:batch/v1:Job") {
		if strings.HasPrefix(name, "posthog-migrate-") && !slices.Contains(j.DependsOn, setup.URN) {
			t.Errorf("the migrations run before doadmin's grants")
		}
	}
	// A key per user of the buckets: PostHog's (and the cold tier's) cannot touch the backups, the
	// backups' can only read the data. (Spaces has no permission that writes without deleting
	// old versions, so the split is the whole of least privilege here.)
	grants := map[string]string{}
	for name, k := range ofType(rs, "digitalocean:index/spacesKey:SpacesKey") {
		for _, g := range get(obj(k), "grants").ArrayValue() {
			grants[name+" "+strings.TrimPrefix(str(get(g, "bucket")), "acme-posthog-do-"+environment+"-")] = str(get(g, "permission"))
		}
	}
	if want := map[string]string{"posthog-storage data": "readwrite", "posthog-backups backups": "readwrite", "posthog-backups data": "read"}; fmt.Sprint(grants) != fmt.Sprint(want) {
		t.Errorf("Spaces keys' grants %v, want %v", grants, want)
	}
	// Which key each Secret holds, by the key its values come from.
	keyOf := func(secret string) []string {
		var out []string
		for _, urns := range ofType(rs, "kubernetes:core/v1:Secret")[secret].PropertyDependencies {
			for _, u := range urns {
				if strings.Contains(u, "spacesKey:SpacesKey::") {
					out = append(out, u[strings.LastIndex(u, "::")+2:])
				}
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for secret, want := range map[string]string{"posthog": "posthog-storage", "clickhouse-object-storage": "posthog-storage",
		"clickhouse-backup": "posthog-backups", "integrity-check": "posthog-backups"} {
		if secret == "integrity-check" && !ha {
			continue // monitoring is off in dev
		}
		if got := keyOf(secret); fmt.Sprint(got) != "["+want+"]" {
			t.Errorf("Secret %s holds the keys %v, want %s", secret, got, want)
		}
	}
	// A new key restarts the replicas, after its Secret holds it: a container reads a Secret's
	// values only when it starts.
	backupSecret := ofType(rs, "kubernetes:core/v1:Secret")["clickhouse-backup"]
	for name, sts := range ofType(rs, "kubernetes:apps/v1:StatefulSet") {
		if !strings.HasPrefix(name, "chi-") {
			continue
		}
		if !slices.Contains(sts.DependsOn, backupSecret.URN) {
			t.Errorf("%s does not wait for the backups' key", name)
		}
		if _, ok := sts.PropertyDependencies["spec"]; !ok || !slices.ContainsFunc(sts.PropertyDependencies["spec"], func(u string) bool {
			return strings.HasSuffix(u, "spacesKey:SpacesKey::posthog-backups")
		}) {
			t.Errorf("%s's pods do not change with the backups' key", name)
		}
	}
	// No zones: a shard's replicas are kept on separate nodes instead.
	for name, sts := range ofType(rs, "kubernetes:apps/v1:StatefulSet") {
		spread := get(obj(sts), "spec", "template", "spec", "topologySpreadConstraints").ArrayValue()
		if len(spread) != 1 || str(get(spread[0], "topologyKey")) != "kubernetes.io/hostname" ||
			str(get(spread[0], "whenUnsatisfiable")) != "DoNotSchedule" {
			t.Errorf("%s spreads %v", name, spread)
		}
	}
}

func checkAzure(t *testing.T, rs []capture.Resource, env string) {
	prod := env == "prod"
	aks := obj(only(t, rs, "azure-native:containerservice:ManagedCluster"))
	if rbac, _ := boolean(get(aks, "enableRBAC")); !rbac {
		t.Error("AKS without RBAC")
	}
	if wi, _ := boolean(get(aks, "securityProfile", "workloadIdentity", "enabled")); !wi {
		t.Error("AKS without workload identity")
	}
	// Microsoft Entra ID only, the stack's groups as admins, through kubelogin.
	if off, _ := boolean(get(aks, "disableLocalAccounts")); !off {
		t.Error("AKS keeps its local accounts (a static admin certificate)")
	}
	if managed, _ := boolean(get(aks, "aadProfile", "managed")); !managed ||
		fmt.Sprint(get(aks, "aadProfile", "adminGroupObjectIDs").ArrayValue()) != "[{0b8f3c52-6f1e-4c8e-9d7a-2f4e5a6b7c8d}]" {
		t.Errorf("AKS Entra ID profile %v", get(aks, "aadProfile"))
	}
	if kc := kubeconfig(t, rs); !strings.Contains(kc, "--server-id") || !strings.Contains(kc, "6dae42f8-4368-4678-94ff-3960e28e3630") ||
		!strings.Contains(kc, "azurecli") || !strings.Contains(kc, "https://aks.hcp.eastus.azmk8s.io:443") {
		t.Errorf("the kubeconfig does not get an Entra token for AKS from the Azure CLI:\n%s", kc)
	}
	// Cilium, not the retired network policy manager.
	if np := get(aks, "networkProfile"); str(get(np, "networkDataplane")) != "cilium" || str(get(np, "networkPolicy")) != "cilium" {
		t.Errorf("AKS network profile %v", np)
	}
	// The cluster's identity may use the nodes' own subnet, before anything asks for a load balancer.
	assignment := ofType(rs, "azure-native:authorization:RoleAssignment")[fmt.Sprintf("posthog-%s-subnet-network", env)]
	a := obj(assignment)
	if !strings.HasSuffix(str(get(a, "roleDefinitionId")), "/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7") ||
		!strings.HasSuffix(str(get(a, "scope")), "/subnets/posthog-"+env+"-nodes") || str(get(a, "principalId")) != "posthog-"+env+"-principal" {
		t.Errorf("the cluster identity's Network Contributor on its subnet: %v", a)
	}
	if !slices.Contains(only(t, rs, "pulumi:providers:kubernetes").DependsOn, assignment.URN) {
		t.Error("workloads do not wait for the identity's rights on the subnet")
	}
	checkAzureIdentity(t, rs, env)
	ext := obj(only(t, rs, "azure-native:dbforpostgresql:Configuration"))
	if str(get(ext, "configurationName")) != "azure.extensions" || !strings.Contains(str(get(ext, "value")), "pg_trgm") {
		t.Errorf("Flexible Server does not allow pg_trgm, which PostHog's migrations create: %v", ext)
	}
	if zones := get(aks, "agentPoolProfiles").ArrayValue()[0].ObjectValue()["availabilityZones"]; len(zones.ArrayValue()) != 3 {
		t.Errorf("AKS pool zones %v", zones)
	}
	pg := obj(only(t, rs, "azure-native:dbforpostgresql:Server"))
	if days := num(get(pg, "backup", "backupRetentionDays")); days < 7 || prod && days < 14 {
		t.Errorf("Flexible Server keeps backups %v days", days)
	}
	if geo := str(get(pg, "backup", "geoRedundantBackup")); (geo == "Enabled") != prod {
		t.Errorf("geo-redundant backups %s in %s", geo, env)
	}
	if ha := str(get(pg, "highAvailability", "mode")); (ha == "ZoneRedundant") != prod {
		t.Errorf("HA %s in %s", ha, env)
	}
	if get(pg, "network", "delegatedSubnetResourceId").IsNull() {
		t.Error("Flexible Server is not inside the VNet")
	}
	// Its name is a public DNS name, unique across Azure: the stack owner's prefix, not posthog-<env>.
	if name, acct := str(get(pg, "serverName")), str(get(obj(only(t, rs, "azure-native:storage:StorageAccount")), "accountName")); !strings.HasSuffix(name, "-pg") ||
		strings.ReplaceAll(strings.TrimSuffix(name, "-pg"), "-", "") != acct {
		t.Errorf("Flexible Server %q is not named from the stack's prefix (storage account %q)", name, acct)
	}
	// Storage the service offers (32, 64, 128 … GiB), not any size.
	if gi := num(get(pg, "storage", "storageSizeGB")); !slices.Contains([]float64{32, 64, 128, 256, 512, 1024}, gi) {
		t.Errorf("Flexible Server storage %v GiB is not a size Azure offers", gi)
	}
	acct := obj(only(t, rs, "azure-native:storage:StorageAccount"))
	if public, set := boolean(get(acct, "allowBlobPublicAccess")); !set || public || str(get(acct, "minimumTlsVersion")) != "TLS1_2" {
		t.Errorf("storage account %v", acct)
	}
	blob := obj(only(t, rs, "azure-native:storage:BlobServiceProperties"))
	if v, _ := boolean(get(blob, "isVersioningEnabled")); !v {
		t.Error("blob versioning off")
	}
	if soft, _ := boolean(get(blob, "deleteRetentionPolicy", "enabled")); !soft {
		t.Error("blob soft delete off")
	}
	// ClickHouse's backups speak Azure Blob, as the buckets' workload identity (checkAzureIdentity).
	for name, sts := range ofType(rs, "kubernetes:apps/v1:StatefulSet") {
		if !strings.HasPrefix(name, "chi-") {
			continue
		}
		env := get(obj(sts), "spec", "template", "spec", "containers").ArrayValue()[1].ObjectValue()["env"]
		found := false
		for _, e := range env.ArrayValue() {
			found = found || str(get(e, "name")) == "REMOTE_STORAGE" && str(get(e, "value")) == "azblob"
		}
		if !found {
			t.Errorf("%s backup agent does not use azblob", name)
		}
	}
}

// checkAzureIdentity: ClickHouse's backups and the integrity check act as a user-assigned identity
// federated with the cluster for the buckets' service account alone, with a data role per
// container; no account key exists to reach the buckets with.
func checkAzureIdentity(t *testing.T, rs []capture.Resource, environment string) {
	if shared, set := boolean(get(obj(only(t, rs, "azure-native:storage:StorageAccount")), "allowSharedKeyAccess")); !set || shared {
		t.Error("the storage account accepts its keys")
	}
	fed := obj(only(t, rs, "azure-native:managedidentity:FederatedIdentityCredential"))
	if str(get(fed, "subject")) != "system:serviceaccount:posthog:posthog-storage" ||
		!strings.HasPrefix(str(get(fed, "issuer")), "https://eastus.oic.prod-aks.azure.com/") ||
		fmt.Sprint(get(fed, "audiences").ArrayValue()) != "[{api://AzureADTokenExchange}]" {
		t.Errorf("federated credential %v", fed)
	}
	roles := map[string]string{}
	for name, r := range ofType(rs, "azure-native:authorization:RoleAssignment") {
		scope := str(get(obj(r), "scope"))
		roles[scope[strings.LastIndex(scope, "/")+1:]] = str(get(obj(r), "roleDefinitionId"))[len(str(get(obj(r), "roleDefinitionId")))-36:]
		if strings.HasPrefix(name, "posthog-storage-") && str(get(obj(r), "principalId")) != "posthog-storage-principal" {
			t.Errorf("%s is given to %v", name, get(obj(r), "principalId"))
		}
	}
	prefix := "acme-posthog-azure-" + environment
	if roles[prefix+"-backups"] != "ba92f5b4-2d11-453d-a403-e96b0029c9fe" || roles[prefix+"-data"] != "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1" {
		t.Errorf("data roles by container: %v", roles)
	}
	sa := obj(ofType(rs, "kubernetes:core/v1:ServiceAccount")["posthog-storage"])
	if str(get(sa, "metadata", "annotations", "azure.workload.identity/client-id")) != "posthog-storage-client" {
		t.Errorf("the buckets' service account names no identity: %v", sa)
	}
	if _, ok := ofType(rs, "kubernetes:core/v1:Secret")["clickhouse-backup"]; ok {
		t.Error("a key Secret for the backups exists")
	}
	for name, sts := range ofType(rs, "kubernetes:apps/v1:StatefulSet") {
		if !strings.HasPrefix(name, "chi-") {
			continue
		}
		tmpl := get(obj(sts), "spec", "template")
		if str(get(tmpl, "metadata", "labels", "azure.workload.identity/use")) != "true" ||
			!get(obj(sts), "spec", "selector", "matchLabels", "azure.workload.identity/use").IsNull() {
			t.Errorf("%s: the webhook's label belongs on the pods, never in the selector: %v", name, get(tmpl, "metadata", "labels"))
		}
		agent := env(get(tmpl, "spec", "containers").ArrayValue()[1])
		if agent["AZBLOB_USE_MANAGED_IDENTITY"] != "true" || agent["AZBLOB_ACCOUNT_NAME"] == "" {
			t.Errorf("%s backup agent: %v", name, agent)
		}
	}
}
