// Package foundation is the shape every cloud provides to the data plane: a Kubernetes
// cluster with a namespace to deploy into, how stateful volumes are placed, and a PostgreSQL
// endpoint. Nothing cloud-specific passes this shape; the data plane never asks which cloud
// it runs on.
package foundation

import (
	"fmt"
	"net/url"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// Foundation is what a cloud (or an existing cluster) gives the data plane. It is a component
// (posthog-deploy:<cloud>:Foundation) whose children are the cloud's resources: the cloud's
// package registers it (Begin), fills it, and registers its outputs (Finish).
type Foundation struct {
	pulumi.ResourceState
	// Cluster is the Kubernetes side: the provider, the namespace, where workloads go.
	*Cluster
	// Namespace is the name of the namespace every workload goes into.
	Namespace string
	// Zones are the zones the cluster's nodes and the managed database span (none where the
	// cloud's region is one datacenter).
	Zones []string
	// AwaitLoadBalancers is false where LoadBalancer Services and Ingresses never get an
	// address (no load-balancer controller), so their await is skipped there only.
	AwaitLoadBalancers bool
	Postgres           Postgres
	ObjectStorage      ObjectStorage
	// ClickHousePool is the dedicated node pool of ClickHouse's replicas ("" for any node).
	ClickHousePool string
}

// Args is what every foundation is built from: the stack's config.
type Args struct {
	Config *config.Config
}

// FromRoot aliases a resource to the URN it had at the stack's root, before the foundations
// were components: the engine then moves it under its component instead of replacing it.
var FromRoot = pulumi.Aliases([]pulumi.Alias{{NoParent: pulumi.Bool(true)}})

// Begin registers a cloud's foundation and returns it with the option its resources take:
// parented under it, and aliased to where they stood before.
func Begin(ctx *pulumi.Context, cloud config.Cloud, name string, opts ...pulumi.ResourceOption) (*Foundation, pulumi.ResourceOption, error) {
	f := &Foundation{}
	if err := ctx.RegisterComponentResource("posthog-deploy:"+string(cloud)+":Foundation", name, f, opts...); err != nil {
		return nil, nil, err
	}
	return f, pulumi.Composite(pulumi.Parent(f), FromRoot), nil
}

// Finish fills in what the cloud made and registers the foundation's outputs.
func (f *Foundation) Finish(ctx *pulumi.Context, cfg *config.Config, c *Cluster, zones []string, pg Postgres,
	store ObjectStorage) (*Foundation, error) {
	f.Cluster, f.Namespace, f.Zones = c, cfg.Namespace, zones
	f.AwaitLoadBalancers = cfg.Cluster.AwaitLoadBalancers
	pg.Ready = append(pg.Ready, c.PostgresReady...)
	f.Postgres, f.ObjectStorage = pg, store
	if !config.Facts(cfg.Cloud).StandIns {
		f.ClickHousePool = ClickHousePool
	}
	return f, ctx.RegisterResourceOutputs(f, pulumi.Map{
		"namespace": pulumi.String(f.Namespace), "zones": pulumi.ToStringArray(zones), "postgresHost": pg.Host,
	})
}

// ObjectStorage is PostHog's buckets, all versioned, and how pods reach them.
type ObjectStorage struct {
	// API is the protocol the store speaks.
	API config.ObjectAPI
	// Endpoint is the API's URL (S3), or the storage account's blob endpoint (Azure Blob).
	Endpoint string
	// Account is the storage account the buckets are containers of (Azure Blob).
	Account string
	Region  string
	Buckets Buckets
	// Credentials are static keys (for Azure Blob: the account's name and key); nil where pods
	// reach the buckets through workload identity.
	Credentials *Credentials
	// ServiceAccount is the Kubernetes service account that pods using the buckets run as: it
	// carries the cloud's workload identity. Empty means the namespace's default.
	ServiceAccount string
	// BackupAPI is the protocol ClickHouse's backups and the integrity check speak where it is
	// not API: a native one that takes ServiceAccount's workload identity, so that no static key
	// reaches the backups bucket. Empty: API, with Credentials.
	BackupAPI config.ObjectAPI
	// DataServiceAccount is the service account PostHog runs as where it reaches the data bucket
	// through workload identity: its own, limited to that bucket ("" where PostHog holds a key).
	DataServiceAccount string
	// BackupCredentials are the backups' own keys where the cloud has no workload identity: they
	// reach the backups bucket (and read the data bucket), while Credentials reach the data
	// bucket alone. Nil: the backups use Credentials.
	BackupCredentials *Credentials
}

// Backup is the protocol the backups speak.
func (s ObjectStorage) Backup() config.ObjectAPI {
	if s.BackupAPI != "" {
		return s.BackupAPI
	}
	return s.API
}

// BackupsActApart says the backups reach the buckets as an identity of their own (workload
// identity, or keys of their own), not with Credentials.
func (s ObjectStorage) BackupsActApart() bool { return s.BackupAPI != "" || s.BackupCredentials != nil }

// BackupKeys are the static keys the backups use: none where they act as the workload identity.
func (s ObjectStorage) BackupKeys() *Credentials {
	switch {
	case s.BackupAPI != "":
		return nil
	case s.BackupCredentials != nil:
		return s.BackupCredentials
	}
	return s.Credentials
}

// Credentials are an access key pair, Pulumi secrets.
type Credentials struct {
	AccessKey pulumi.StringOutput
	SecretKey pulumi.StringOutput
}

// Buckets are the bucket names: PostHog's data (recordings, exports) and ClickHouse's backups.
type Buckets struct {
	Data    string
	Backups string
}

// Postgres is a PostgreSQL endpoint and PostHog's credentials on it.
type Postgres struct {
	Host     pulumi.StringOutput
	Port     int
	Database string
	User     string
	// Password is a Pulumi secret.
	Password pulumi.StringOutput
	// TLS is how a client verifies the server; a cloud's managed database requires it.
	TLS PostgresTLS
	// Ready is what must exist before clients connect.
	Ready []pulumi.Resource
	// Setup is what an administrator runs before PostHog connects (nil where nothing is needed).
	Setup *PostgresSetup
}

// PostgresTLS is how a client verifies a managed database's certificate.
type PostgresTLS struct {
	// Mode is libpq's sslmode: "verify-full" where the certificate names the host (and the CA
	// signs other customers' servers too), "verify-ca" where the CA is the instance's own and the
	// host is an IP address its certificate does not name; "disable" for an in-cluster server.
	Mode string
	// CA is the certificate authority's PEM where the cloud's API returns it.
	CA pulumi.StringOutput
	// CAURL is where the cloud publishes its CA bundle as a file, fetched when a pod starts.
	// With neither CA nor CAURL, the server chains to a public root (the Mozilla store).
	CAURL string
}

// SSLMode is Mode, "disable" when unset.
func (t PostgresTLS) SSLMode() string {
	if t.Mode == "" {
		return "disable"
	}
	return t.Mode
}

// Verified says whether connections to the server are encrypted and its certificate checked.
func (t PostgresTLS) Verified() bool { return t.Mode == "verify-full" || t.Mode == "verify-ca" }

// URL is a libpq connection URL with the password encoded, so that any character a
// generated password holds (/, +, @, :, …) reaches the server intact. Query carries libpq's
// connection parameters (sslmode, sslrootcert). It is a Pulumi secret, since it holds the
// password.
func (p Postgres) URL(query url.Values) pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.All(p.Host, p.Password).ApplyT(func(v []any) string {
		u := url.URL{
			Scheme:   "postgres",
			User:     url.UserPassword(p.User, v[1].(string)),
			Host:     fmt.Sprintf("%s:%d", v[0], p.Port),
			Path:     "/" + p.Database,
			RawQuery: query.Encode(),
		}
		return u.String()
	})).(pulumi.StringOutput)
}

// The CA of a managed database is mounted at CAPath in the pods that connect to it (PgBouncer,
// the migrations): from the ConfigMap CAConfigMap where the cloud's API gives the PEM, otherwise
// fetched by an init container into a scratch volume.
const (
	CAConfigMap = "postgres-ca"
	CADir       = "/etc/postgres-ca"
	CAFile      = "ca.pem"
	CAPath      = CADir + "/" + CAFile
	caVolume    = "postgres-ca"
	// mozillaRoots is where the curl image keeps curl.se's extract of Mozilla's root store.
	mozillaRoots = "/cacert.pem"
)

// CAMount is what a pod needs to verify the database: the volume holding CAPath, the init
// container that fills it (if any), and the mount for the containers that read it. fetch is
// the curl image (config.Release's Curl), which downloads the bundle or copies its own roots.
func (t PostgresTLS) CAMount(fetch config.Image) (kube.Volume, []kube.Container, kube.Mount) {
	mount := kube.Mount{Volume: caVolume, Path: CADir}
	if !t.Verified() {
		return kube.Volume{}, nil, kube.Mount{}
	}
	if t.CAURL == "" && t.CA != (pulumi.StringOutput{}) {
		return kube.Volume{Name: caVolume, ConfigMaps: []string{CAConfigMap}}, nil, mount
	}
	script := fmt.Sprintf("cp %s %s", mozillaRoots, CAPath)
	if t.CAURL != "" {
		script = fmt.Sprintf("curl -fsSL --connect-timeout 10 --retry 10 --retry-all-errors -o %s %s", CAPath, t.CAURL)
	}
	fetcher := kube.Container{
		Image:     fetch,
		Command:   []string{"sh", "-ec", script},
		Resources: kube.Resources{CPU: "50m", Memory: "32Mi"},
		Mounts:    []kube.Mount{mount},
	}
	return kube.Volume{Name: caVolume, Scratch: true}, []kube.Container{fetcher}, mount
}

// Options parents nothing but routes every Kubernetes resource of a component to the
// foundation's cluster.
func (f *Foundation) Options() []pulumi.ResourceOption {
	return []pulumi.ResourceOption{pulumi.Providers(f.Provider)}
}

// Cluster is the Kubernetes side of a foundation, a component (posthog-deploy:kube:Cluster):
// the provider that deploys onto the cluster, the namespace every workload goes into, the
// storage class and the buckets' service account of a cloud's cluster, and the database's CA.
type Cluster struct {
	pulumi.ResourceState
	Provider  *kubernetes.Provider
	Placement kube.Placement
	// StorageClass is the class the cluster's volumes are claimed from ("" for the default).
	StorageClass string
	// Kubeconfig reaches a cluster the stack created (a Pulumi secret); the ambient one's
	// contents on "local".
	Kubeconfig pulumi.StringOutput
	// PostgresReady is what the cluster runs before PostHog may use the database (its setup).
	PostgresReady []pulumi.Resource
}

// ClusterArgs is how to reach a cluster and what to make on it.
type ClusterArgs struct {
	Config *config.Config
	// Kubeconfig reaches the cluster (a Pulumi secret); unset for the ambient cluster's
	// in-cluster credentials.
	Kubeconfig pulumi.StringOutput
	// Volumes is how a cloud's cluster provisions a stateful volume: the storage class made
	// here. Nil on an existing cluster, whose cluster.storageClass (or default) serves.
	Volumes *StorageClass
	// Identity annotates the buckets' service account with the cloud identity it acts as;
	// ServiceAccount says whether there is one (a cloud's cluster).
	ServiceAccount bool
	Identity       map[string]pulumi.StringInput
	// IdentityLabels are what pods running as that account must carry (kube.Placement).
	IdentityLabels map[string]string
	// DataIdentity annotates PostHog's own service account (DataAccountName), made where it is
	// set: the identity that reaches the data bucket alone.
	DataIdentity map[string]pulumi.StringInput
	// Zones are the zones the nodes span (none: replicas are kept on separate nodes).
	Zones []string
	// Ready are what must exist before workloads are scheduled (node pools, storage drivers).
	Ready []pulumi.Resource
	// Postgres is the database, whose CA goes into a ConfigMap where the cloud's API gives it.
	Postgres Postgres
}

// StorageClass is a cloud's CSI driver and its parameters for an encrypted block volume.
type StorageClass struct {
	Provisioner string
	Parameters  map[string]string
}

// Names of what NewCluster creates on a cloud's cluster.
const (
	StorageClassName   = "posthog-data"
	StorageAccountName = "posthog-storage"
	DataAccountName    = "posthog-objects"
)

// reclaim is the storage class's reclaim policy: volumes outlive their claims (Retain) unless
// the stack is Disposable. A volume keeps the policy it was made with.
func reclaim(cfg *config.Config) string {
	if Disposable(cfg) {
		return "Delete"
	}
	return "Retain"
}

// NewCluster makes the Kubernetes side of a foundation: the provider, the namespace, and on a
// cloud's cluster a storage class that keeps volumes when their claims go (Retain; Delete in dev) and binds them
// in the zone of the pod (WaitForFirstConsumer) and the service account of the pods using the
// buckets; and the database's CA where the cloud's API gives it. Its children stood at the stack's
// root before it was a component, and keep those URNs as aliases.
func NewCluster(ctx *pulumi.Context, name string, args ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	cfg := args.Config
	c := &Cluster{StorageClass: cfg.Cluster.StorageClass, Kubeconfig: args.Kubeconfig}
	if err := ctx.RegisterComponentResource("posthog-deploy:kube:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	under := pulumi.Composite(pulumi.Parent(c), FromRoot)
	ready := pulumi.DependsOn(args.Ready)
	providerArgs := &kubernetes.ProviderArgs{}
	if args.Kubeconfig != (pulumi.StringOutput{}) {
		providerArgs.Kubeconfig = args.Kubeconfig.ToStringPtrOutput()
	}
	provider, err := kubernetes.NewProvider(ctx, "cluster", providerArgs, under, ready)
	if err != nil {
		return nil, err
	}
	c.Provider = provider
	on := pulumi.Composite(under, pulumi.Provider(provider))
	if args.Volumes != nil {
		c.StorageClass = StorageClassName
		if _, err := storagev1.NewStorageClass(ctx, StorageClassName, &storagev1.StorageClassArgs{
			Metadata:             metav1.ObjectMetaArgs{Name: pulumi.String(StorageClassName)},
			Provisioner:          pulumi.String(args.Volumes.Provisioner),
			Parameters:           pulumi.ToStringMap(args.Volumes.Parameters),
			ReclaimPolicy:        pulumi.String(reclaim(cfg)),
			VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"),
			AllowVolumeExpansion: pulumi.Bool(true),
		}, on, ready, pulumi.DeleteBeforeReplace(true)); err != nil { // the policy is immutable; the class keeps its name
			return nil, err
		}
	}
	ns, err := corev1.NewNamespace(ctx, cfg.Namespace, &corev1.NamespaceArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name:   pulumi.String(cfg.Namespace),
			Labels: pulumi.StringMap{labels.PartOf: pulumi.String(labels.Platform)},
		},
	}, on, ready, pulumi.Protect(cfg.Environment.Protected()))
	if err != nil {
		return nil, err
	}
	c.Placement = kube.Placement{
		Namespace:      ns.Metadata.Name().Elem(),
		NamespaceName:  cfg.Namespace,
		SpreadZones:    cfg.Cluster.SpreadZones,
		SeparateNodes:  !config.Facts(cfg.Cloud).Zoned,
		StorageClass:   c.StorageClass,
		Protect:        cfg.Environment.Protected(),
		IdentityLabels: args.IdentityLabels,
	}
	accounts := map[string]map[string]pulumi.StringInput{}
	if args.ServiceAccount {
		accounts[StorageAccountName] = args.Identity
	}
	if args.DataIdentity != nil {
		accounts[DataAccountName] = args.DataIdentity
	}
	for _, name := range []string{StorageAccountName, DataAccountName} {
		annotations, ok := accounts[name]
		if !ok {
			continue
		}
		if _, err := corev1.NewServiceAccount(ctx, name, &corev1.ServiceAccountArgs{
			Metadata: metav1.ObjectMetaArgs{
				Name:        pulumi.String(name),
				Namespace:   c.Placement.Namespace,
				Annotations: pulumi.StringMap(annotations),
			},
		}, on); err != nil {
			return nil, err
		}
	}
	var caReady []pulumi.Resource
	if args.Postgres.TLS.CA != (pulumi.StringOutput{}) {
		ca, err := kube.NewConfigMap(ctx, CAConfigMap, c.Placement.Namespace, kube.Labels(CAConfigMap, nil),
			pulumi.StringMap{CAFile: args.Postgres.TLS.CA}, on)
		if err != nil {
			return nil, err
		}
		caReady = append(caReady, ca)
	}
	if args.Postgres.Setup != nil {
		job, err := newPostgresSetup(ctx, cfg, args.Postgres, c.Placement, on,
			pulumi.DependsOn(append(caReady, args.Postgres.Ready...)))
		if err != nil {
			return nil, err
		}
		c.PostgresReady = append(c.PostgresReady, job)
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"namespace": pulumi.String(cfg.Namespace)})
}
