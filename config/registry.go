package config

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// CloudFacts is what one place a stack runs on offers it, and all that the config, the program,
// the policy pack, the data-loss guard and the tests need to know of it. What differs between
// the clouds lives here and in the cloud's own package only: a new cloud is an entry of
// Registry, a package under components/, its line in platform's foundations, and its stack files.
type CloudFacts struct {
	Cloud Cloud
	// StandIns says the stack runs on an existing cluster and brings its own PostgreSQL and
	// object store into it, in place of a cloud's managed ones.
	StandIns bool
	// Regions a stack may name, each with the suffixes of the zones its cluster spreads over
	// (regions with three zones, so that a zone's loss leaves a quorum; none where a region is one
	// datacenter). Empty for an existing cluster (local), which has no region of ours.
	Regions map[string][]string
	// ZoneNames names a region's zones as the cloud's API does.
	ZoneNames func(region string, suffixes []string) []string
	// DefaultRegion is an example in errors; ListRegions the CLI command that lists them.
	DefaultRegion, ListRegions string
	// Project says the stack names the cloud project it deploys into (posthog-deploy:project).
	Project bool
	// General, ClickHouse and Database are the defaults' machine and database sizes: dev, then
	// staging and prod.
	General, ClickHouse, Database [2]string
	// BurstablePrefix names the database sizes that cannot run a standby ("" where all can).
	BurstablePrefix string
	// Zoned says the nodes carry zone labels to spread replicas over; elsewhere members of a
	// quorum or a shard are kept on separate nodes instead.
	Zoned bool
	// LoadBalancers says LoadBalancer Services and Ingresses get an address (a cloud's
	// controller), so that the engine may wait for it.
	LoadBalancers bool
	// Secrets are the secret keys a stack must set: a cloud that generates the database
	// password itself takes no postgresPassword; only the in-cluster object store has a key of ours.
	Secrets []string
	// ObjectAPI is the protocol the buckets speak; ClickHouse's cold tier needs S3.
	ObjectAPI ObjectAPI
	// AccountNameMax limits the storage account the buckets live in (named by the bucket prefix
	// without dashes); 0 where buckets stand alone.
	AccountNameMax int
	// TaintEffect spells "NoSchedule" as the cloud's node-pool API does, for the ClickHouse pool.
	TaintEffect string
	// Networks are the default cluster.networkCidr per environment where they must differ: one
	// DigitalOcean account holds every environment, and its VPC ranges may not overlap.
	// Elsewhere each environment has its own account or project, and 10.0.0.0/16.
	Networks map[Environment]string
	// Kubernetes are the minor versions the cloud creates clusters on in standard support, and
	// when that support ends, as its calendar said on FactsAsOf (KubernetesSource).
	Kubernetes       []Support
	KubernetesSource string
	// Postgres are the PostgreSQL major versions the managed database creates (of those PostHog
	// accepts: Current().ManagedPostgres), and when the cloud's standard support of each ends.
	Postgres       []Support
	PostgresSource string
	// DatabaseSizesGi are the only storage sizes the managed database accepts (nil: any whole
	// Gi); DatabaseBaseGi the storage a database size includes, below which the cloud refuses
	// it (sizes not listed are not checked). DatabaseSource says where both come from.
	DatabaseSizesGi []int
	DatabaseBaseGi  map[string]int
	DatabaseSource  string
	// LoadBalancer are the annotations of the ingress controller's Service on this cloud, and
	// ClientAddresses says its load balancer then hands the controller the clients' addresses
	// (with externalTrafficPolicy Local), which the app's allow-list needs.
	LoadBalancer    map[string]string
	ClientAddresses bool
	// Plan is the cloud's address plan for a network and a number of zones (see Addresses);
	// nil where the stack creates no network.
	Plan func(network string, zones int) Addresses
	// DataTypes are the cloud's resource types that hold data: protected in staging and prod,
	// never deleted or replaced without review, their URNs kept across refactors.
	DataTypes []string
	// Admins says what names a principal of cluster.admins, who is given cluster-admin through
	// the cloud's own access control (EKS access entries); nil where the cloud's IAM already
	// governs access to the cluster and the stack grants nothing itself.
	Admins *Principals
	// Mock is what the cloud computes for the resources and lookups the program reads, as the
	// tests under Pulumi's mocks answer them.
	Mock Mock
}

// Principals is the form of an identity a cloud's access control names.
type Principals struct {
	// Pattern is what one must match; Example and What say it in errors and docs.
	Pattern       *regexp.Regexp
	Example, What string
	// Required says the stack needs at least one: nobody else can reach the cluster.
	Required bool
}

// Support is a version and the last day of its standard support on a cloud.
type Support struct {
	Version, Ends string
}

// FactsAsOf is the day the clouds' calendars and limits in the registry were read. Versions
// past their end need a new entry: `make test` does not fail on the date, the clouds do.
const FactsAsOf = "2026-11-24"

// ObjectAPI is an object-storage protocol.
type ObjectAPI string

// The protocols buckets speak: PostHog and ClickHouse speak S3; ClickHouse's backups (and the
// integrity check's lister) also speak Azure Blob and Google Cloud Storage's own API, which take
// the pod's workload identity instead of a key.
const (
	S3        ObjectAPI = "s3"
	AzureBlob ObjectAPI = "azblob"
	GCS       ObjectAPI = "gcs"
)

// Mock are a cloud's computed outputs, by resource type, and its lookups' results, by token.
type Mock struct {
	Outputs map[string]func(name string) map[string]any
	Calls   map[string]func(args map[string]any) map[string]any
}

// ColdTier says whether ClickHouse's object-storage tier is possible: it speaks S3 only.
func (f CloudFacts) ColdTier() bool { return f.ObjectAPI == S3 }

// letters names zones region+suffix (AWS) or region-suffix (GCP).
func letters(sep string) func(string, []string) []string {
	return func(region string, suffixes []string) []string {
		out := make([]string, len(suffixes))
		for i, s := range suffixes {
			out[i] = region + sep + s
		}
		return out
	}
}

var (
	abc  = []string{"a", "b", "c"}
	n123 = []string{"1", "2", "3"}
)

// Registry is every place a stack can run, in the order errors list them.
var Registry = []CloudFacts{
	{
		Cloud:         Local,
		StandIns:      true,
		Zoned:         true,
		Secrets:       []string{"clickhousePassword", "objectStoreSecretKey", "postgresPassword", "secretKey"},
		ObjectAPI:     S3,
		LoadBalancers: false,
	},
	{
		Cloud: AWS,
		Regions: map[string][]string{"us-east-1": abc, "us-east-2": abc, "us-west-2": abc, "ca-central-1": {"a", "b", "d"},
			"eu-west-1": abc, "eu-west-2": abc, "eu-central-1": abc, "eu-north-1": abc,
			"ap-southeast-1": abc, "ap-southeast-2": abc, "ap-northeast-1": {"a", "c", "d"}, "sa-east-1": abc},
		ZoneNames: letters(""), DefaultRegion: "us-east-1", ListRegions: "aws ec2 describe-availability-zones",
		// EKS access entries take IAM users and roles (not a role's assumed-role session ARN).
		Admins: &Principals{Pattern: regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+$`),
			Example: "arn:aws:iam::123456789012:role/ci-deploy", What: "an IAM role or user ARN"},
		General: [2]string{"m6i.large", "m6i.xlarge"}, ClickHouse: [2]string{"r6i.large", "r6i.2xlarge"},
		Database: [2]string{"db.t4g.medium", "db.m6g.large"},
		Zoned:    true, LoadBalancers: true,
		Secrets:     []string{"clickhousePassword", "postgresPassword", "secretKey"},
		ObjectAPI:   S3,
		TaintEffect: "NO_SCHEDULE",
		Plan:        awsPlan,
		// A Network Load Balancer keeps the client's address; the classic one a Service gets by
		// default proxies TCP and hides it (cloud-provider-aws service annotations).
		LoadBalancer:    map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
		ClientAddresses: true,
		Kubernetes:      []Support{{"1.35", "2027-03-27"}, {"1.36", "2027-08-02"}},
		Postgres:        []Support{{"14", "2027-02-28"}},
		PostgresSource: "RDS for PostgreSQL release calendar (via endoflife.date, 2026-08): after 2027-02-28 RDS enrolls 14 in " +
			"paid Extended Support until 2030-02-28",
		KubernetesSource: "EKS Kubernetes version calendar (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html, " +
			"via endoflife.date 2026-08); 1.34 ends 2026-12-02, 1.37 unconfirmed",
		DataTypes: []string{"aws:rds/instance:Instance", "aws:rds/cluster:Cluster", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2",
			// It encrypts the database and the cluster's Secrets: deleting it makes both unreadable.
			"aws:kms/key:Key"},
		Mock: Mock{Outputs: map[string]func(string) map[string]any{
			"aws:eks/cluster:Cluster": func(name string) map[string]any {
				return map[string]any{"endpoint": "https://" + name + ".eks.example", "certificateAuthority": map[string]any{"data": "Q0E="},
					"identities": []any{map[string]any{"oidcs": []any{map[string]any{"issuer": "https://oidc.eks.example/id/" + name}}}}}
			},
			"aws:iam/role:Role": arn,
			"aws:iam/openIdConnectProvider:OpenIdConnectProvider": arn,
			"aws:kms/key:Key":           arn,
			"aws:s3/bucketV2:BucketV2":  arn,
			"aws:rds/instance:Instance": func(name string) map[string]any { return map[string]any{"address": name + ".rds.example"} },
		}, Calls: map[string]func(map[string]any) map[string]any{
			// EKS offers the versions asked for in standard support.
			"aws:eks/getClusterVersions:getClusterVersions": func(args map[string]any) map[string]any {
				var out []any
				for _, v := range args["clusterVersionsOnlies"].([]any) {
					out = append(out, map[string]any{"clusterVersion": v, "versionStatus": "STANDARD_SUPPORT"})
				}
				return map[string]any{"clusterVersions": out}
			},
		}},
	},
	{
		Cloud: GCP,
		Regions: map[string][]string{"us-central1": {"a", "b", "c"}, "us-east1": {"b", "c", "d"}, "us-east4": abc,
			"us-west1": abc, "europe-west1": {"b", "c", "d"}, "europe-west2": abc, "europe-west3": abc,
			"europe-west4": abc, "asia-southeast1": abc, "asia-northeast1": abc, "australia-southeast1": abc},
		ZoneNames: letters("-"), DefaultRegion: "us-central1", ListRegions: "gcloud compute zones list",
		Project: true,
		General: [2]string{"e2-standard-2", "e2-standard-4"}, ClickHouse: [2]string{"n2-highmem-2", "n2-highmem-8"},
		Database: [2]string{"db-custom-1-3840", "db-custom-2-7680"},
		Zoned:    true, LoadBalancers: true,
		Secrets:     []string{"clickhousePassword", "postgresPassword", "secretKey"},
		ObjectAPI:   S3,
		TaintEffect: "NO_SCHEDULE",
		Plan:        gcpPlan,
		// A passthrough Network Load Balancer: clients' addresses reach the nodes.
		ClientAddresses: true,
		Kubernetes:      []Support{{"1.35", "2027-04-11"}, {"1.36", "2027-08-09"}},
		Postgres:        []Support{{"14", "2027-01-31"}},
		PostgresSource:  "Cloud SQL database version support policy: paid extended support of POSTGRES_14 from 2027-02-01",
		KubernetesSource: "GKE release schedule (cloud.google.com/kubernetes-engine/docs/release-schedule, via endoflife.date " +
			"2026-08) and the Regular channel's versions (release notes, 2026-09)",
		DataTypes: []string{"gcp:sql/databaseInstance:DatabaseInstance", "gcp:sql/database:Database", "gcp:storage/bucket:Bucket"},
		Mock: Mock{Outputs: map[string]func(string) map[string]any{
			"gcp:container/cluster:Cluster": func(string) map[string]any {
				return map[string]any{"endpoint": "203.0.113.10", "masterAuth": map[string]any{"clusterCaCertificate": "Q0E="}}
			},
			"gcp:serviceaccount/account:Account": func(name string) map[string]any {
				return map[string]any{"email": name + "@project.iam.gserviceaccount.com", "name": "projects/p/serviceAccounts/" + name}
			},
			"gcp:storage/hmacKey:HmacKey": func(string) map[string]any {
				return map[string]any{"accessId": "GOOG-MOCK", "secret": "mock-hmac-secret"}
			},
			"gcp:sql/databaseInstance:DatabaseInstance": func(name string) map[string]any {
				return map[string]any{"privateIpAddress": "10.100.0.3", "serverCaCerts": []any{map[string]any{"cert": MockPEM("cloud-sql-" + name)}}}
			},
		}, Calls: map[string]func(map[string]any) map[string]any{
			// GKE creates a patch of the minor version asked for.
			"gcp:container/getEngineVersions:getEngineVersions": func(args map[string]any) map[string]any {
				return map[string]any{"validMasterVersions": []any{fmt.Sprint(args["versionPrefix"]) + "5-gke.1000"}}
			},
		}},
	},
	{
		Cloud: DigitalOcean,
		// A region is one datacenter: no zones.
		Regions: map[string][]string{"nyc3": nil, "sfo3": nil, "tor1": nil, "ams3": nil, "fra1": nil,
			"lon1": nil, "sgp1": nil, "blr1": nil, "syd1": nil},
		ZoneNames: func(string, []string) []string { return nil }, DefaultRegion: "nyc3", ListRegions: "doctl kubernetes options regions",
		General: [2]string{"s-2vcpu-4gb", "s-4vcpu-8gb"}, ClickHouse: [2]string{"m-2vcpu-16gb", "m-4vcpu-32gb"},
		Database: [2]string{"db-s-1vcpu-2gb", "db-s-2vcpu-4gb"},
		Zoned:    false, LoadBalancers: true,
		// DigitalOcean generates the database user's password.
		Secrets:     []string{"clickhousePassword", "secretKey"},
		ObjectAPI:   S3,
		TaintEffect: "NoSchedule",
		// prod keeps the range every environment had before: changing a VPC's range replaces it,
		// and with it the cluster and the database in it.
		Networks:   map[Environment]string{Prod: "10.0.0.0/16", Staging: "10.1.0.0/16", Dev: "10.2.0.0/16"},
		Kubernetes: []Support{{"1.35", "2027-02-28"}, {"1.36", "2027-06-28"}},
		Postgres:   []Support{{"14", "2026-11-12"}},
		PostgresSource: "PostgreSQL 14's community end of life; DigitalOcean's own policy could not be read here, and it has " +
			"stopped creating a major version before its end of life (11, in 2023): check `doctl databases options versions`",
		KubernetesSource: "DOKS supported releases (docs.digitalocean.com/products/kubernetes/details/supported-releases, " +
			"as quoted 2026-07); 1.34 ended 2026-10-27",
		// Only the sizes the provider's own acceptance tests create are listed.
		DatabaseBaseGi: map[string]int{"db-s-1vcpu-1gb": 10, "db-s-1vcpu-2gb": 30},
		DatabaseSource: "terraform-provider-digitalocean acceptance tests (db-s-1vcpu-1gb at 10240 MiB; db-s-1vcpu-2gb " +
			"reads back 30720 MiB by default)",
		DataTypes: []string{"digitalocean:index/databaseCluster:DatabaseCluster", "digitalocean:index/databaseDb:DatabaseDb",
			"digitalocean:index/spacesBucket:SpacesBucket"},
		Mock: Mock{
			Outputs: map[string]func(string) map[string]any{
				"digitalocean:index/kubernetesCluster:KubernetesCluster": func(name string) map[string]any {
					return map[string]any{"endpoint": "https://" + name + ".k8s.ondigitalocean.com", "id": name + "-uuid",
						"kubeConfigs": []any{map[string]any{"rawConfig": "apiVersion: v1\nkind: Config\n", "clusterCaCertificate": "Q0E=", "token": "mock-7-day-token"}}}
				},
				"digitalocean:index/databaseCluster:DatabaseCluster": func(name string) map[string]any {
					return map[string]any{"privateHost": name + ".private.db.ondigitalocean.com"}
				},
				"digitalocean:index/databaseUser:DatabaseUser": func(string) map[string]any {
					return map[string]any{"password": "mock-generated-password"}
				},
				"digitalocean:index/spacesKey:SpacesKey": func(string) map[string]any {
					return map[string]any{"accessKey": "DO-MOCK", "secretKey": "mock-spaces-secret"}
				},
			},
			Calls: map[string]func(map[string]any) map[string]any{
				"digitalocean:index/getDatabaseCa:getDatabaseCa": func(args map[string]any) map[string]any {
					return map[string]any{"certificate": MockPEM("digitalocean-" + args["clusterId"].(string))}
				},
				// The newest slug of the minor version asked for ("1.36." gives "1.36.9-do.0").
				"digitalocean:index/getKubernetesVersions:getKubernetesVersions": func(args map[string]any) map[string]any {
					return map[string]any{"latestVersion": fmt.Sprint(args["versionPrefix"]) + "9-do.0"}
				},
			},
		},
	},
	{
		Cloud: Azure,
		// Azure numbers the zones of every zonal region 1, 2 and 3 (its nodes are labelled <region>-<n>).
		Regions: map[string][]string{"eastus": n123, "eastus2": n123, "westus2": n123, "westus3": n123, "centralus": n123,
			"northeurope": n123, "westeurope": n123, "uksouth": n123, "germanywestcentral": n123, "francecentral": n123,
			"swedencentral": n123, "southeastasia": n123, "australiaeast": n123, "japaneast": n123},
		ZoneNames:     func(_ string, numbers []string) []string { return numbers },
		DefaultRegion: "eastus", ListRegions: "az account list-locations",
		General: [2]string{"Standard_D2s_v5", "Standard_D4s_v5"}, ClickHouse: [2]string{"Standard_E2s_v5", "Standard_E8s_v5"},
		Database: [2]string{"Standard_B2s", "Standard_D2ds_v5"}, BurstablePrefix: "Standard_B",
		Zoned: true, LoadBalancers: true,
		Secrets:   []string{"clickhousePassword", "postgresPassword", "secretKey"},
		ObjectAPI: AzureBlob, AccountNameMax: 24,
		// Local accounts are off: members of these Entra ID groups are the cluster's admins.
		Admins: &Principals{Pattern: regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`), Required: true,
			Example: "0b8f3c52-6f1e-4c8e-9d7a-2f4e5a6b7c8d", What: "a Microsoft Entra group's object id"},
		TaintEffect: "NoSchedule",
		Plan:        azurePlan,
		// The Standard Load Balancer does not proxy: clients' addresses reach the nodes.
		ClientAddresses: true,
		Kubernetes:      []Support{{"1.35", "2027-03-31"}, {"1.36", "2027-06-30"}},
		Postgres:        []Support{{"14", "2026-12-11"}},
		PostgresSource: "Azure Database for PostgreSQL version policy (2026-07): paid extended support of 14 from 2026-12-12 " +
			"to 2029-11-11",
		KubernetesSource: "AKS supported Kubernetes versions calendar (learn.microsoft.com/azure/aks/supported-kubernetes-" +
			"versions, 2026-08); 1.34 ends 2026-11-30",
		DatabaseSizesGi: []int{32, 64, 128, 256, 512, 1024, 2048, 4095, 4096, 8192, 16384, 32767},
		DatabaseSource: "Azure Database for PostgreSQL flexible server storage options (learn.microsoft.com/azure/postgresql/" +
			"flexible-server/concepts-storage; terraform-provider-azurerm's storage_mb validation lists the same)",
		DataTypes: []string{"azure-native:dbforpostgresql:Server", "azure-native:dbforpostgresql:Database",
			"azure-native:storage:StorageAccount", "azure-native:storage:BlobContainer",
			// Deleting the group deletes everything in it: the database and the storage account.
			"azure-native:resources:ResourceGroup"},
		Mock: Mock{
			Outputs: map[string]func(string) map[string]any{
				"azure-native:dbforpostgresql:Server": func(name string) map[string]any {
					return map[string]any{"fullyQualifiedDomainName": name + ".postgres.database.azure.com"}
				},
				"azure-native:network:Subnet": func(name string) map[string]any {
					return map[string]any{"id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" +
						"Microsoft.Network/virtualNetworks/vnet/subnets/" + name}
				},
				"azure-native:containerservice:ManagedCluster": func(name string) map[string]any {
					return map[string]any{"identity": map[string]any{"type": "SystemAssigned", "principalId": name + "-principal"},
						"oidcIssuerProfile": map[string]any{"enabled": true, "issuerURL": "https://eastus.oic.prod-aks.azure.com/tenant/" + name + "/"}}
				},
				"azure-native:storage:BlobContainer": func(name string) map[string]any {
					return map[string]any{"id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" +
						"Microsoft.Storage/storageAccounts/acct/blobServices/default/containers/" + name}
				},
				"azure-native:managedidentity:UserAssignedIdentity": func(name string) map[string]any {
					return map[string]any{"clientId": name + "-client", "principalId": name + "-principal"}
				},
			},
			Calls: map[string]func(map[string]any) map[string]any{
				"azure-native:containerservice:listManagedClusterUserCredentials": func(map[string]any) map[string]any {
					// A user kubeconfig of an Entra ID cluster: its one cluster, and no secret.
					return map[string]any{"kubeconfigs": []any{map[string]any{"name": "clusterUser",
						"value": base64.StdEncoding.EncodeToString([]byte("apiVersion: v1\nkind: Config\nclusters:\n- name: aks\n  cluster:\n" +
							"    server: https://aks.hcp.eastus.azmk8s.io:443\n    certificate-authority-data: Q0E=\n"))}}}
				},
				"azure-native:storage:listStorageAccountKeys": func(map[string]any) map[string]any {
					return map[string]any{"keys": []any{map[string]any{"keyName": "key1", "value": "mock-account-key", "permissions": "FULL"}}}
				},
			},
		},
	},
}

func arn(name string) map[string]any { return map[string]any{"arn": "arn:aws:mock:::" + name} }

// MockPEM is the certificate a cloud's API returns under mocks for the CA named.
func MockPEM(name string) string {
	return "-----BEGIN CERTIFICATE-----\n" + strings.ToUpper(name) + "\n-----END CERTIFICATE-----"
}

// Facts is the registry entry of cloud (the zero CloudFacts for an unknown one).
func Facts(cloud Cloud) CloudFacts {
	for _, f := range Registry {
		if f.Cloud == cloud {
			return f
		}
	}
	return CloudFacts{}
}

// Clouds lists every allowed value of posthog-deploy:cloud.
func Clouds() []Cloud {
	out := make([]Cloud, len(Registry))
	for i, f := range Registry {
		out[i] = f.Cloud
	}
	return out
}

// KubernetesDataTypes are the cluster's resource types whose loss loses data: volumes, the
// namespace that holds the claims, and the stateful sets that own them.
var KubernetesDataTypes = []string{
	"kubernetes:core/v1:PersistentVolumeClaim",
	"kubernetes:core/v1:PersistentVolume",
	"kubernetes:core/v1:Namespace",
	"kubernetes:apps/v1:StatefulSet",
}

// DataTypes are every resource type whose deletion or replacement loses stored data: what the
// data-loss guard stops, what staging and prod protect, what keeps its URN across changes.
func DataTypes() []string {
	out := slices.Clone(KubernetesDataTypes)
	for _, f := range Registry {
		out = append(out, f.DataTypes...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
