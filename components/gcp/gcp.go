// Package gcp is the foundation on Google Cloud: a VPC with a private-node subnet and Cloud NAT,
// a GKE cluster (regional in staging and prod) with Workload Identity and shielded nodes, Cloud
// SQL PostgreSQL on a private IP with backups and point-in-time recovery, and versioned GCS
// buckets with uniform access and public access prevented.
package gcp

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/servicenetworking"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/sql"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// New provisions the stack's GCP foundation.
func New(ctx *pulumi.Context, name string, args foundation.Args, opts ...pulumi.ResourceOption) (*foundation.Foundation, error) {
	cfg := args.Config
	f, on, err := foundation.Begin(ctx, config.GCP, name, opts...)
	if err != nil {
		return nil, err
	}
	keep := foundation.Keep(cfg, on)

	network, subnet, err := newNetwork(ctx, name, cfg, on)
	if err != nil {
		return nil, err
	}
	cluster, pools, err := newCluster(ctx, name, cfg, network, subnet, on)
	if err != nil {
		return nil, err
	}
	pg, err := newPostgres(ctx, name, cfg, network, keep, on)
	if err != nil {
		return nil, err
	}

	store, err := newBuckets(ctx, name, cfg, cluster, keep, on)
	if err != nil {
		return nil, err
	}
	k8s, err := foundation.NewCluster(ctx, "cluster", foundation.ClusterArgs{
		Config: cfg,
		Kubeconfig: foundation.ExecKubeconfig(name, cluster.Endpoint, cluster.MasterAuth.ClusterCaCertificate().Elem(),
			// The credentials `pulumi up` itself uses (gcloud auth application-default login, or
			// GOOGLE_APPLICATION_CREDENTIALS in CI), not gcloud's own login (cloud-provider-gcp #264).
			"gke-gcloud-auth-plugin", "--use_application_default_credentials"),
		Volumes: &foundation.StorageClass{Provisioner: "pd.csi.storage.gke.io",
			Parameters: map[string]string{"type": "pd-balanced"}},
		ServiceAccount: true,
		Identity:       map[string]pulumi.StringInput{"iam.gke.io/gcp-service-account": store.backups.Email},
		Zones:          cfg.Zones,
		Ready:          pools,
		Postgres:       pg,
	}, pulumi.Parent(f))
	if err != nil {
		return nil, err
	}
	return f.Finish(ctx, cfg, k8s, cfg.Zones, pg, store.storage)
}

// Bucket roles: objectUser reads, writes, lists and deletes objects; objectViewer reads and lists.
// In GCS the permission that deletes a live object (making it noncurrent) also deletes old
// generations, so no role can write without it: the buckets' soft delete keeps every deleted
// generation restorable for SoftDeleteDays instead.
const (
	objectUser   = "roles/storage.objectUser"
	objectViewer = "roles/storage.objectViewer"
)

// store is the buckets and the two Google service accounts that use them.
type store struct {
	storage foundation.ObjectStorage
	// backups acts for the pods of the buckets' Kubernetes service account through Workload
	// Identity: clickhouse-backup and the integrity check, on GCS's own API.
	backups *serviceaccount.Account
}

// newBuckets makes the buckets and their users. ClickHouse's backups reach the backups bucket as
// a Workload Identity account, with no key; PostHog (boto3) and ClickHouse's cold tier speak the
// S3 API, which takes an HMAC key only: that key's account can use the data bucket alone.
func newBuckets(ctx *pulumi.Context, name string, cfg *config.Config, cluster *container.Cluster, keep []pulumi.ResourceOption,
	on pulumi.ResourceOption) (*store, error) {
	project := pulumi.String(cfg.Project)
	account := func(id, purpose string) (*serviceaccount.Account, error) {
		return serviceaccount.NewAccount(ctx, id, &serviceaccount.AccountArgs{
			Project: project, AccountId: pulumi.String(name + "-" + strings.TrimPrefix(id, "posthog-")), DisplayName: pulumi.String(purpose),
		}, on)
	}
	backups, err := account("posthog-storage", "ClickHouse's backups (Workload Identity)")
	if err != nil {
		return nil, err
	}
	objects, err := account("posthog-objects", "PostHog's data bucket (S3 API, HMAC key)")
	if err != nil {
		return nil, err
	}
	data, backupsBucket := cfg.ObjectStore.Buckets()
	grants := map[string][]grant{
		data:          {{objects, objectUser}, {backups, objectViewer}},
		backupsBucket: {{backups, objectUser}},
	}
	for _, b := range []string{data, backupsBucket} {
		bucket, err := newBucket(ctx, b, cfg, keep)
		if err != nil {
			return nil, err
		}
		for _, g := range grants[b] {
			if _, err := storage.NewBucketIAMMember(ctx, b+"-"+g.role[len("roles/storage."):], &storage.BucketIAMMemberArgs{
				Bucket: bucket.Name, Role: pulumi.String(g.role), Member: pulumi.Sprintf("serviceAccount:%s", g.account.Email),
			}, on); err != nil {
				return nil, err
			}
		}
	}
	// The project's identity pool (<project>.svc.id.goog) exists once a cluster has enabled it:
	// in a fresh project the binding fails before ("Identity Pool does not exist",
	// terraform-google-kubernetes-engine #916).
	if _, err := serviceaccount.NewIAMMember(ctx, "posthog-storage", &serviceaccount.IAMMemberArgs{
		ServiceAccountId: backups.Name,
		Role:             pulumi.String("roles/iam.workloadIdentityUser"),
		Member:           pulumi.String(fmt.Sprintf("serviceAccount:%s.svc.id.goog[%s/%s]", cfg.Project, cfg.Namespace, foundation.StorageAccountName)),
	}, on, pulumi.DependsOn([]pulumi.Resource{cluster})); err != nil {
		return nil, err
	}
	hmac, err := storage.NewHmacKey(ctx, "posthog-objects", &storage.HmacKeyArgs{Project: project, ServiceAccountEmail: objects.Email}, on)
	if err != nil {
		return nil, err
	}
	return &store{backups: backups, storage: foundation.ObjectStorage{
		API:            config.S3,
		BackupAPI:      config.GCS,
		Endpoint:       "https://storage.googleapis.com",
		Region:         cfg.Region,
		Buckets:        foundation.Buckets{Data: data, Backups: backupsBucket},
		Credentials:    &foundation.Credentials{AccessKey: hmac.AccessId, SecretKey: pulumi.ToSecret(hmac.Secret).(pulumi.StringOutput)},
		ServiceAccount: foundation.StorageAccountName,
	}}, nil
}

// grant is a role on a bucket for an account.
type grant struct {
	account *serviceaccount.Account
	role    string
}

// SoftDeleteDays is how long GCS keeps a deleted generation restorable: GCS allows 7 to 90 days.
func SoftDeleteDays(cfg *config.Config) int {
	return min(max(cfg.ObjectStore.NoncurrentVersionDays, 7), 90)
}

// newBucket is a versioned, private bucket whose old generations expire, and whose deleted ones
// stay restorable for SoftDeleteDays. A dev stack's buckets are emptied on destroy.
func newBucket(ctx *pulumi.Context, name string, cfg *config.Config, keep []pulumi.ResourceOption) (*storage.Bucket, error) {
	return storage.NewBucket(ctx, name, &storage.BucketArgs{
		Project:                  pulumi.String(cfg.Project),
		Name:                     pulumi.String(name),
		Location:                 pulumi.String(cfg.Region),
		Versioning:               storage.BucketVersioningArgs{Enabled: pulumi.Bool(true)},
		UniformBucketLevelAccess: pulumi.Bool(true),
		PublicAccessPrevention:   pulumi.String("enforced"),
		ForceDestroy:             pulumi.Bool(foundation.Disposable(cfg)),
		SoftDeletePolicy:         storage.BucketSoftDeletePolicyArgs{RetentionDurationSeconds: pulumi.Int(SoftDeleteDays(cfg) * 86400)},
		LifecycleRules: storage.BucketLifecycleRuleArray{storage.BucketLifecycleRuleArgs{
			Action: storage.BucketLifecycleRuleActionArgs{Type: pulumi.String("Delete")},
			Condition: storage.BucketLifecycleRuleConditionArgs{
				WithState: pulumi.String("ARCHIVED"), DaysSinceNoncurrentTime: pulumi.Int(cfg.ObjectStore.NoncurrentVersionDays),
			},
		}},
	}, keep...)
}

// The secondary ranges of the nodes' subnetwork (config.Addresses: the address plan).
const podRange, serviceRange = "pods", "services"

func newNetwork(ctx *pulumi.Context, name string, cfg *config.Config, on pulumi.ResourceOption) (*compute.Network, *compute.Subnetwork, error) {
	project := pulumi.String(cfg.Project)
	network, err := compute.NewNetwork(ctx, name, &compute.NetworkArgs{
		Project: project, Name: pulumi.String(name), AutoCreateSubnetworks: pulumi.Bool(false),
	}, on)
	if err != nil {
		return nil, nil, err
	}
	subnet, err := compute.NewSubnetwork(ctx, name, &compute.SubnetworkArgs{
		Project: project, Region: pulumi.String(cfg.Region), Network: network.ID(), Name: pulumi.String(name),
		IpCidrRange:           pulumi.String(cfg.Addresses().CIDR("nodes")),
		PrivateIpGoogleAccess: pulumi.Bool(true),
		SecondaryIpRanges: compute.SubnetworkSecondaryIpRangeArray{
			compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String(podRange), IpCidrRange: pulumi.String(cfg.Addresses().CIDR("pods"))},
			compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String(serviceRange), IpCidrRange: pulumi.String(cfg.Addresses().CIDR("services"))},
		},
	}, on)
	if err != nil {
		return nil, nil, err
	}
	router, err := compute.NewRouter(ctx, name, &compute.RouterArgs{Project: project, Region: pulumi.String(cfg.Region), Network: network.ID()}, on)
	if err != nil {
		return nil, nil, err
	}
	// Private nodes reach registries and the internet through NAT only.
	if _, err := compute.NewRouterNat(ctx, name, &compute.RouterNatArgs{
		Project: project, Region: pulumi.String(cfg.Region), Router: router.Name,
		NatIpAllocateOption:           pulumi.String("AUTO_ONLY"),
		SourceSubnetworkIpRangesToNat: pulumi.String("ALL_SUBNETWORKS_ALL_IP_RANGES"),
	}, on); err != nil {
		return nil, nil, err
	}
	return network, subnet, nil
}

func newCluster(ctx *pulumi.Context, name string, cfg *config.Config, network *compute.Network, subnet *compute.Subnetwork,
	on pulumi.ResourceOption) (*container.Cluster, []pulumi.Resource, error) {
	// Regional clusters keep their control plane and nodes in every zone; dev's is zonal.
	location := cfg.Region
	if cfg.Environment == config.Dev {
		location = cfg.Zones[0]
	}
	var authorized container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray
	for _, cidr := range cfg.Cluster.APIAllowedCIDRs {
		authorized = append(authorized, container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs{CidrBlock: pulumi.String(cidr)})
	}
	// GKE's own list for this location: the version config allows must be one it creates now.
	version := container.GetEngineVersionsOutput(ctx, container.GetEngineVersionsOutputArgs{
		Project: pulumi.String(cfg.Project), Location: pulumi.String(location), VersionPrefix: pulumi.String(cfg.Cluster.Version + "."),
	}).ApplyT(func(r container.GetEngineVersionsResult) (string, error) {
		if len(r.ValidMasterVersions) == 0 {
			return "", fmt.Errorf("posthog-deploy:cluster.version: GKE creates no %s.x cluster in %s any more "+
				"(gcloud container get-server-config --location %s): choose a newer version", cfg.Cluster.Version, location, location)
		}
		return cfg.Cluster.Version, nil
	}).(pulumi.StringOutput)
	nodes, granted, err := newNodeAccount(ctx, name, cfg, on)
	if err != nil {
		return nil, nil, err
	}
	cluster, err := container.NewCluster(ctx, name, &container.ClusterArgs{
		Project:               pulumi.String(cfg.Project),
		Name:                  pulumi.String(name),
		Location:              pulumi.String(location),
		Network:               network.ID(),
		Subnetwork:            subnet.ID(),
		MinMasterVersion:      version,
		RemoveDefaultNodePool: pulumi.Bool(true),
		InitialNodeCount:      pulumi.Int(1),
		DeletionProtection:    pulumi.Bool(cfg.Environment.Protected()),
		EnableShieldedNodes:   pulumi.Bool(true),
		ReleaseChannel:        container.ClusterReleaseChannelArgs{Channel: pulumi.String("REGULAR")},
		WorkloadIdentityConfig: container.ClusterWorkloadIdentityConfigArgs{
			WorkloadPool: pulumi.String(cfg.Project + ".svc.id.goog"),
		},
		IpAllocationPolicy: container.ClusterIpAllocationPolicyArgs{
			ClusterSecondaryRangeName: pulumi.String(podRange), ServicesSecondaryRangeName: pulumi.String(serviceRange),
		},
		PrivateClusterConfig: container.ClusterPrivateClusterConfigArgs{
			EnablePrivateNodes: pulumi.Bool(true), EnablePrivateEndpoint: pulumi.Bool(false),
			MasterIpv4CidrBlock: pulumi.String(cfg.Addresses().CIDR("control-plane")),
		},
		MasterAuthorizedNetworksConfig: container.ClusterMasterAuthorizedNetworksConfigArgs{CidrBlocks: authorized},
		// The default pool lives only while the cluster is created, but not as the Compute Engine
		// default account either; a cluster made before keeps its own (this field replaces it).
		NodeConfig: container.ClusterNodeConfigArgs{ServiceAccount: nodes.Email},
	}, on, pulumi.IgnoreChanges([]string{"nodeConfig"}), pulumi.DependsOn(granted))
	if err != nil {
		return nil, nil, err
	}
	var pools []pulumi.Resource
	for _, pool := range foundation.Pools(cfg) {
		var taints container.NodePoolNodeConfigTaintArray
		if pool.Name == foundation.ClickHousePool {
			taints = container.NodePoolNodeConfigTaintArray{container.NodePoolNodeConfigTaintArgs{
				Key: pulumi.String(kube.PoolLabel), Value: pulumi.String(pool.Name), Effect: pulumi.String(config.Facts(config.GCP).TaintEffect),
			}}
		}
		np, err := container.NewNodePool(ctx, name+"-"+pool.Name, &container.NodePoolArgs{
			Project:  pulumi.String(cfg.Project),
			Location: pulumi.String(location),
			Cluster:  cluster.Name,
			Name:     pulumi.String(pool.Name),
			// A regional pool's counts are per zone.
			InitialNodeCount: pulumi.Int(perZone(pool.Min, cfg, location)),
			Autoscaling: container.NodePoolAutoscalingArgs{
				TotalMinNodeCount: pulumi.Int(pool.Min), TotalMaxNodeCount: pulumi.Int(pool.Max),
			},
			Management: container.NodePoolManagementArgs{AutoRepair: pulumi.Bool(true), AutoUpgrade: pulumi.Bool(true)},
			NodeConfig: container.NodePoolNodeConfigArgs{
				MachineType:    pulumi.String(pool.MachineType),
				ServiceAccount: nodes.Email,
				Labels:         pulumi.ToStringMap(pool.Labels),
				Taints:         taints,
				// With a dedicated account, IAM (not the legacy scopes) limits what nodes can do.
				OauthScopes:            pulumi.ToStringArray([]string{"https://www.googleapis.com/auth/cloud-platform"}),
				ShieldedInstanceConfig: container.NodePoolNodeConfigShieldedInstanceConfigArgs{EnableSecureBoot: pulumi.Bool(true), EnableIntegrityMonitoring: pulumi.Bool(true)},
				WorkloadMetadataConfig: container.NodePoolNodeConfigWorkloadMetadataConfigArgs{Mode: pulumi.String("GKE_METADATA")},
			},
		}, pulumi.IgnoreChanges([]string{"initialNodeCount",
			// A pool's account cannot change in place and GKE refuses a second pool of the same
			// name: a pool made before keeps its account (docs/clouds.md).
			"nodeConfig.serviceAccount"}), pulumi.DependsOn(granted), on)
		if err != nil {
			return nil, nil, err
		}
		pools = append(pools, np)
	}
	return cluster, pools, nil
}

// NodeRole is the one role of the nodes' own service account: what GKE's node agents need
// (logs, metrics, autoscaling metrics), least privilege by GKE's guidance, instead of the
// Compute Engine default account, which holds Editor on the project.
const NodeRole = "roles/container.defaultNodeServiceAccount"

// newNodeAccount is the nodes' service account and its role.
func newNodeAccount(ctx *pulumi.Context, name string, cfg *config.Config, on pulumi.ResourceOption) (*serviceaccount.Account, []pulumi.Resource, error) {
	account, err := serviceaccount.NewAccount(ctx, name+"-nodes", &serviceaccount.AccountArgs{
		Project: pulumi.String(cfg.Project), AccountId: pulumi.String(name + "-nodes"), DisplayName: pulumi.String("GKE nodes of " + name),
	}, on)
	if err != nil {
		return nil, nil, err
	}
	role, err := projects.NewIAMMember(ctx, name+"-nodes", &projects.IAMMemberArgs{
		Project: pulumi.String(cfg.Project), Role: pulumi.String(NodeRole),
		Member: pulumi.Sprintf("serviceAccount:%s", account.Email),
	}, on)
	if err != nil {
		return nil, nil, err
	}
	return account, []pulumi.Resource{role}, nil
}

// pemsOf joins the certificates of a Cloud SQL instance's server CAs (the current one and, during
// a rotation, the next) into one bundle.
func pemsOf(cas []sql.DatabaseInstanceServerCaCert) string {
	var pems []string
	for _, ca := range cas {
		if ca.Cert != nil {
			pems = append(pems, strings.TrimSpace(*ca.Cert))
		}
	}
	return strings.Join(pems, "\n") + "\n"
}

// perZone is a pool's initial node count in each of its location's zones.
func perZone(total int, cfg *config.Config, location string) int {
	if location != cfg.Region {
		return total
	}
	return max(1, (total+len(cfg.Zones)-1)/len(cfg.Zones))
}

func newPostgres(ctx *pulumi.Context, name string, cfg *config.Config, network *compute.Network, keep []pulumi.ResourceOption,
	on pulumi.ResourceOption) (foundation.Postgres, error) {
	project := pulumi.String(cfg.Project)
	// Cloud SQL's private IP comes from a range peered with Google's service network.
	peering, err := compute.NewGlobalAddress(ctx, name+"-sql", &compute.GlobalAddressArgs{
		Project: project, Purpose: pulumi.String("VPC_PEERING"), AddressType: pulumi.String("INTERNAL"),
		PrefixLength: pulumi.Int(20), Network: network.ID(),
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	// Cloud SQL holds the connection for days after its instance is gone (a deleted instance can
	// still be restored), so deleting it fails; ABANDON drops it from the stack instead
	// (terraform-provider-google #16275). See docs/clouds.md for what a dev teardown leaves.
	conn, err := servicenetworking.NewConnection(ctx, name, &servicenetworking.ConnectionArgs{
		Network: network.ID(), Service: pulumi.String("servicenetworking.googleapis.com"),
		ReservedPeeringRanges: pulumi.StringArray{peering.Name},
		DeletionPolicy:        pulumi.String("ABANDON"),
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	pg := cfg.Postgres
	size, _ := config.Bytes(pg.Storage)
	availability := "ZONAL"
	if pg.HighAvailability {
		availability = "REGIONAL"
	}
	protected := cfg.Environment.Protected()
	instance, err := sql.NewDatabaseInstance(ctx, name, &sql.DatabaseInstanceArgs{
		Project:            project,
		Name:               pulumi.String(name),
		Region:             pulumi.String(cfg.Region),
		DatabaseVersion:    pulumi.String("POSTGRES_" + pg.Version),
		DeletionProtection: pulumi.Bool(protected),
		Settings: sql.DatabaseInstanceSettingsArgs{
			Tier:                      pulumi.String(pg.InstanceClass),
			AvailabilityType:          pulumi.String(availability),
			DiskType:                  pulumi.String("PD_SSD"),
			DiskSize:                  pulumi.Int(int(size >> 30)),
			DiskAutoresize:            pulumi.Bool(true),
			DeletionProtectionEnabled: pulumi.Bool(protected),
			BackupConfiguration: sql.DatabaseInstanceSettingsBackupConfigurationArgs{
				Enabled:                     pulumi.Bool(true),
				PointInTimeRecoveryEnabled:  pulumi.Bool(true),
				StartTime:                   pulumi.String("03:00"),
				TransactionLogRetentionDays: pulumi.Int(min(7, pg.BackupRetentionDays)),
				BackupRetentionSettings: sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs{
					RetainedBackups: pulumi.Int(pg.BackupRetentionDays), RetentionUnit: pulumi.String("COUNT"),
				},
			},
			IpConfiguration: sql.DatabaseInstanceSettingsIpConfigurationArgs{
				Ipv4Enabled: pulumi.Bool(false), PrivateNetwork: network.ID(), SslMode: pulumi.String("ENCRYPTED_ONLY"),
			},
			MaintenanceWindow: sql.DatabaseInstanceSettingsMaintenanceWindowArgs{Day: pulumi.Int(7), Hour: pulumi.Int(4)},
		},
	}, append(keep, pulumi.DependsOn([]pulumi.Resource{conn}))...)
	if err != nil {
		return foundation.Postgres{}, err
	}
	db := foundation.PostgresDatabase
	database, err := sql.NewDatabase(ctx, name, &sql.DatabaseArgs{Project: project, Instance: instance.Name, Name: pulumi.String(db.Name)}, keep...)
	if err != nil {
		return foundation.Postgres{}, err
	}
	user, err := sql.NewUser(ctx, name, &sql.UserArgs{
		Project: project, Instance: instance.Name, Name: pulumi.String(db.User), Password: cfg.Secrets.PostgresPassword,
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	endpoint := db.At(instance.PrivateIpAddress, cfg.Secrets.PostgresPassword)
	endpoint.Ready = []pulumi.Resource{instance, database, user}
	// The instance's own CA, from the API; its certificate names the instance, not the private
	// IP clients dial, so the chain is verified and the name is not.
	endpoint.TLS = foundation.PostgresTLS{Mode: "verify-ca", CA: instance.ServerCaCerts.ApplyT(pemsOf).(pulumi.StringOutput)}
	return endpoint, nil
}
