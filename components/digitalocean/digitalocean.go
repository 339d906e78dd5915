// Package digitalocean is the foundation on DigitalOcean: a VPC, a DOKS cluster (HA control plane
// in staging and prod) with its node pools, a managed PostgreSQL cluster (a standby node in prod)
// that only the cluster may reach, and versioned, private Spaces buckets with a key limited to them.
package digitalocean

import (
	"fmt"

	do "github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// postgresPort is where DigitalOcean's managed PostgreSQL listens (TLS required).
const postgresPort = 25060

// New provisions the stack's DigitalOcean foundation.
func New(ctx *pulumi.Context, name string, args foundation.Args, opts ...pulumi.ResourceOption) (*foundation.Foundation, error) {
	cfg := args.Config
	f, on, err := foundation.Begin(ctx, config.DigitalOcean, name, opts...)
	if err != nil {
		return nil, err
	}
	region := pulumi.String(cfg.Region)
	keep := foundation.Keep(cfg, on)
	ha := cfg.Environment != config.Dev

	vpc, err := do.NewVpc(ctx, name, &do.VpcArgs{Name: pulumi.String(name), Region: region, IpRange: pulumi.String(cfg.Cluster.NetworkCIDR)}, on)
	if err != nil {
		return nil, err
	}
	// DOKS wants a full version slug: the newest patch of the configured minor version.
	version := do.GetKubernetesVersionsOutput(ctx, do.GetKubernetesVersionsOutputArgs{
		VersionPrefix: pulumi.String(cfg.Cluster.Version + "."),
	}, pulumi.Parent(f)).LatestVersion()
	pools := foundation.Pools(cfg)
	general := pools[0]
	cluster, err := do.NewKubernetesCluster(ctx, name, &do.KubernetesClusterArgs{
		Name:         pulumi.String(name),
		Region:       region,
		Version:      version,
		VpcUuid:      vpc.ID(),
		Ha:           pulumi.Bool(ha),
		SurgeUpgrade: pulumi.Bool(true),
		AutoUpgrade:  pulumi.Bool(false),
		MaintenancePolicy: do.KubernetesClusterMaintenancePolicyArgs{
			Day: pulumi.String("sunday"), StartTime: pulumi.String("04:00"),
		},
		ControlPlaneFirewall: do.KubernetesClusterControlPlaneFirewallArgs{
			Enabled: pulumi.Bool(true), AllowedAddresses: pulumi.ToStringArray(cfg.Cluster.APIAllowedCIDRs),
		},
		NodePool: do.KubernetesClusterNodePoolArgs{
			Name: pulumi.String(general.Name), Size: pulumi.String(general.MachineType),
			AutoScale: pulumi.Bool(true), MinNodes: pulumi.Int(general.Min), MaxNodes: pulumi.Int(general.Max),
			Labels: pulumi.ToStringMap(general.Labels),
		},
	}, pulumi.IgnoreChanges([]string{"version"}), on)
	if err != nil {
		return nil, err
	}
	ready := []pulumi.Resource{cluster}
	for _, pool := range pools[1:] {
		np, err := do.NewKubernetesNodePool(ctx, name+"-"+pool.Name, &do.KubernetesNodePoolArgs{
			ClusterId: cluster.ID(), Name: pulumi.String(pool.Name), Size: pulumi.String(pool.MachineType),
			AutoScale: pulumi.Bool(true), MinNodes: pulumi.Int(pool.Min), MaxNodes: pulumi.Int(pool.Max),
			Labels: pulumi.ToStringMap(pool.Labels),
			Taints: do.KubernetesNodePoolTaintArray{do.KubernetesNodePoolTaintArgs{
				Key: pulumi.String(kube.PoolLabel), Value: pulumi.String(pool.Name), Effect: pulumi.String(config.Facts(config.DigitalOcean).TaintEffect),
			}},
		}, on)
		if err != nil {
			return nil, err
		}
		ready = append(ready, np)
	}

	pg, err := newPostgres(ctx, name, cfg, vpc, cluster, keep, on)
	if err != nil {
		return nil, err
	}
	storage, err := newSpaces(ctx, cfg, keep, on)
	if err != nil {
		return nil, err
	}
	k8s, err := foundation.NewCluster(ctx, "cluster", foundation.ClusterArgs{
		Config:         cfg,
		Kubeconfig:     kubeconfig(name, cluster),
		Volumes:        &foundation.StorageClass{Provisioner: "dobs.csi.digitalocean.com"},
		ServiceAccount: true,
		Ready:          ready,
		Postgres:       pg,
	}, pulumi.Parent(f))
	if err != nil {
		return nil, err
	}
	return f.Finish(ctx, cfg, k8s, nil, pg, storage)
}

// kubeconfig reaches the cluster with a token doctl asks DigitalOcean for at each use (with
// DIGITALOCEAN_ACCESS_TOKEN or doctl's own login), not the 7-day token of the cluster's raw
// kubeconfig, which fails a later `up` once it expires (pulumi-digitalocean #77, #312).
func kubeconfig(name string, cluster *do.KubernetesCluster) pulumi.StringOutput {
	return pulumi.ToSecret(cluster.ID().ApplyT(func(id string) pulumi.StringOutput {
		return foundation.ExecKubeconfig(name, cluster.Endpoint, cluster.KubeConfigs.Index(pulumi.Int(0)).ClusterCaCertificate().Elem(),
			"doctl", "kubernetes", "cluster", "kubeconfig", "exec-credential", "--version=v1beta1", id)
	})).(pulumi.StringOutput)
}

// Admin is the administrator DigitalOcean creates on every database cluster.
const Admin = "doadmin"

// Grants are what Admin gives PostHog's user. The database the API creates belongs to doadmin and
// the user it creates gets nothing on it: PostHog's migrations create pg_trgm (trusted: CREATE on
// the database is enough, foundation.PostgresExtensions), and from PostgreSQL 15 the public schema
// is its owner's alone ("permission denied for schema public").
func Grants(d foundation.Database) []string {
	return []string{
		fmt.Sprintf(`GRANT CREATE ON DATABASE %q TO %q`, d.Name, d.User),
		fmt.Sprintf(`GRANT ALL ON SCHEMA public TO %q`, d.User),
	}
}

func newPostgres(ctx *pulumi.Context, name string, cfg *config.Config, vpc *do.Vpc, cluster *do.KubernetesCluster,
	keep []pulumi.ResourceOption, on pulumi.ResourceOption) (foundation.Postgres, error) {
	pg := cfg.Postgres
	nodes := 1
	if pg.HighAvailability {
		nodes = 2
	}
	size, _ := config.Bytes(pg.Storage)
	// Backups are daily with seven days of point-in-time recovery on every DigitalOcean
	// PostgreSQL cluster; there is nothing to switch on, and nothing that can switch it off.
	db, err := do.NewDatabaseCluster(ctx, name, &do.DatabaseClusterArgs{
		Name:               pulumi.String(name),
		Engine:             pulumi.String("pg"),
		Version:            pulumi.String(pg.Version),
		Size:               pulumi.String(pg.InstanceClass),
		Region:             pulumi.String(cfg.Region),
		NodeCount:          pulumi.Int(nodes),
		StorageSizeMib:     pulumi.String(fmt.Sprint(size >> 20)),
		PrivateNetworkUuid: vpc.ID(),
		MaintenanceWindows: do.DatabaseClusterMaintenanceWindowArray{do.DatabaseClusterMaintenanceWindowArgs{
			Day: pulumi.String("sunday"), Hour: pulumi.String("04:00:00"),
		}},
	}, keep...)
	if err != nil {
		return foundation.Postgres{}, err
	}
	// Trusted sources: only the cluster's nodes reach the database.
	firewall, err := do.NewDatabaseFirewall(ctx, name, &do.DatabaseFirewallArgs{
		ClusterId: db.ID(),
		Rules:     do.DatabaseFirewallRuleArray{do.DatabaseFirewallRuleArgs{Type: pulumi.String("k8s"), Value: cluster.ID()}},
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	spec := foundation.PostgresDatabase
	database, err := do.NewDatabaseDb(ctx, name, &do.DatabaseDbArgs{ClusterId: db.ID(), Name: pulumi.String(spec.Name)}, keep...)
	if err != nil {
		return foundation.Postgres{}, err
	}
	// DigitalOcean generates the user's password.
	user, err := do.NewDatabaseUser(ctx, name, &do.DatabaseUserArgs{ClusterId: db.ID(), Name: pulumi.String(spec.User)}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	endpoint := spec.At(db.PrivateHost, pulumi.ToSecret(user.Password).(pulumi.StringOutput))
	endpoint.Port = postgresPort
	endpoint.Setup = &foundation.PostgresSetup{User: Admin, Password: pulumi.ToSecret(db.Password).(pulumi.StringOutput), SQL: Grants(spec)}
	// Reachable once the nodes are trusted sources and the database and its user exist.
	endpoint.Ready = []pulumi.Resource{db, firewall, database, user}
	// The cluster's own CA, from the API: a certificate it signed is this cluster's.
	ca := do.GetDatabaseCaOutput(ctx, do.GetDatabaseCaOutputArgs{ClusterId: db.ID()}).Certificate()
	endpoint.TLS = foundation.PostgresTLS{Mode: "verify-ca", CA: ca}
	return endpoint, nil
}

func newSpaces(ctx *pulumi.Context, cfg *config.Config, keep []pulumi.ResourceOption, on pulumi.ResourceOption) (foundation.ObjectStorage, error) {
	data, backups := cfg.ObjectStore.Buckets()
	names := map[string]pulumi.StringOutput{}
	for _, b := range []string{data, backups} {
		bucket, err := do.NewSpacesBucket(ctx, b, &do.SpacesBucketArgs{
			Name:         pulumi.String(b),
			Region:       pulumi.String(cfg.Region),
			Acl:          pulumi.String("private"),
			Versioning:   do.SpacesBucketVersioningArgs{Enabled: pulumi.Bool(true)},
			ForceDestroy: pulumi.Bool(foundation.Disposable(cfg)),
			LifecycleRules: do.SpacesBucketLifecycleRuleArray{do.SpacesBucketLifecycleRuleArgs{
				Enabled: pulumi.Bool(true),
				NoncurrentVersionExpiration: do.SpacesBucketLifecycleRuleNoncurrentVersionExpirationArgs{
					Days: pulumi.Int(cfg.ObjectStore.NoncurrentVersionDays),
				},
				AbortIncompleteMultipartUploadDays: pulumi.Int(7),
			}},
		}, keep...)
		if err != nil {
			return foundation.ObjectStorage{}, err
		}
		names[b] = bucket.Name
	}
	// DigitalOcean has no workload identity, and a Spaces key's permission per bucket is read,
	// readwrite or fullaccess only: one that writes can also delete old versions. So each user
	// gets a key for its own bucket: PostHog and ClickHouse's cold tier the data bucket; the
	// backups (and the integrity check, which lists both) the backups bucket, reading the data
	// bucket only.
	key := func(name, suffix string, grants map[string]string) (*foundation.Credentials, error) {
		var g do.SpacesKeyGrantArray
		for _, b := range []string{data, backups} {
			if p, ok := grants[b]; ok {
				g = append(g, do.SpacesKeyGrantArgs{Bucket: names[b], Permission: pulumi.String(p)})
			}
		}
		k, err := do.NewSpacesKey(ctx, name, &do.SpacesKeyArgs{Name: pulumi.String(foundation.Name(cfg) + suffix), Grants: g}, on)
		if err != nil {
			return nil, err
		}
		return &foundation.Credentials{AccessKey: k.AccessKey, SecretKey: pulumi.ToSecret(k.SecretKey).(pulumi.StringOutput)}, nil
	}
	objects, err := key("posthog-storage", "-storage", map[string]string{data: "readwrite"})
	if err != nil {
		return foundation.ObjectStorage{}, err
	}
	backupKeys, err := key("posthog-backups", "-backups", map[string]string{backups: "readwrite", data: "read"})
	if err != nil {
		return foundation.ObjectStorage{}, err
	}
	return foundation.ObjectStorage{
		API:               config.S3,
		Endpoint:          fmt.Sprintf("https://%s.digitaloceanspaces.com", cfg.Region),
		Region:            cfg.Region,
		Buckets:           foundation.Buckets{Data: data, Backups: backups},
		Credentials:       objects,
		BackupCredentials: backupKeys,
	}, nil
}
