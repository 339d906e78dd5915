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

// Foundation is what a cloud (or an existing cluster) gives the data plane.
type Foundation struct {
	// Provider deploys onto the stack's cluster.
	Provider *kubernetes.Provider
	// Namespace is the name of the namespace every workload goes into.
	Namespace string
	// Zones are the zones the cluster's nodes and the managed database span (none where the
	// cloud's region is one datacenter).
	Zones []string
	// Placement carries the namespace, storage class, zone spreading and protection.
	Placement kube.Placement
	// AwaitLoadBalancers is false where LoadBalancer Services and Ingresses never get an
	// address (no load-balancer controller), so their await is skipped there only.
	AwaitLoadBalancers bool
	Postgres           Postgres
	ObjectStorage      ObjectStorage
	// Kubeconfig reaches a cluster the stack created (a Pulumi secret); unset on "local".
	Kubeconfig pulumi.StringOutput
	// ClickHousePool is the dedicated node pool of ClickHouse's replicas ("" for any node).
	ClickHousePool string
}

// ObjectStorage is PostHog's buckets, all versioned, and how pods reach them.
type ObjectStorage struct {
	// API is the protocol the store speaks.
	API config.ObjectAPI
	// Endpoint is the API's URL (S3), or the storage account's blob endpoint (Azure Blob).
	Endpoint string
	Region   string
	Buckets  Buckets
	// Credentials are static keys (for Azure Blob: the account name and key); nil where pods
	// reach the buckets through workload identity.
	Credentials *Credentials
	// ServiceAccount is the Kubernetes service account that pods using the buckets run as: it
	// carries the cloud's workload identity. Empty means the namespace's default.
	ServiceAccount string
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

// NewNamespace creates the stack's namespace on the cluster and returns the placement of
// workloads in it. Every cloud calls it once its cluster exists.
func NewNamespace(ctx *pulumi.Context, cfg *config.Config, provider *kubernetes.Provider, storageClass string,
	opts ...pulumi.ResourceOption) (kube.Placement, error) {
	ns, err := corev1.NewNamespace(ctx, cfg.Namespace, &corev1.NamespaceArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name:   pulumi.String(cfg.Namespace),
			Labels: pulumi.StringMap{labels.PartOf: pulumi.String(labels.Platform)},
		},
	}, append([]pulumi.ResourceOption{pulumi.Provider(provider), pulumi.Protect(cfg.Environment.Protected())}, opts...)...)
	if err != nil {
		return kube.Placement{}, err
	}
	return kube.Placement{
		Namespace:    ns.Metadata.Name().Elem(),
		SpreadZones:  cfg.Cluster.SpreadZones,
		StorageClass: storageClass,
		Protect:      cfg.Environment.Protected(),
	}, nil
}

// Cluster is what a cloud hands over once its Kubernetes cluster exists.
type Cluster struct {
	// Kubeconfig reaches the cluster; a Pulumi secret.
	Kubeconfig pulumi.StringOutput
	// Volumes is how the cloud provisions a stateful volume.
	Volumes StorageClass
	// Identity annotates the buckets' service account with the cloud identity it acts as.
	Identity map[string]pulumi.StringInput
	// Zones are the zones the nodes span.
	Zones []string
	// Ready are what must exist before workloads are scheduled (node pools, storage drivers).
	Ready []pulumi.Resource
}

// StorageClass is a cloud's CSI driver and its parameters for an encrypted block volume.
type StorageClass struct {
	Provisioner string
	Parameters  map[string]string
}

// Names of what Attach creates on a cloud's cluster.
const (
	StorageClassName   = "posthog-data"
	StorageAccountName = "posthog-storage"
)

// Attach is the shared half of every cloud: the Kubernetes provider for the new cluster, the
// namespace, a storage class that keeps volumes when their claims go (Retain) and binds them in
// the zone of the pod (WaitForFirstConsumer), the service account of the pods using the
// buckets, and the database's CA where the cloud's API gives it.
func Attach(ctx *pulumi.Context, cfg *config.Config, c Cluster, pg Postgres, store ObjectStorage) (*Foundation, error) {
	provider, err := kubernetes.NewProvider(ctx, "cluster", &kubernetes.ProviderArgs{
		Kubeconfig: c.Kubeconfig.ToStringPtrOutput(),
	}, pulumi.DependsOn(c.Ready))
	if err != nil {
		return nil, err
	}
	on := pulumi.Provider(provider)
	if _, err := storagev1.NewStorageClass(ctx, StorageClassName, &storagev1.StorageClassArgs{
		Metadata:             metav1.ObjectMetaArgs{Name: pulumi.String(StorageClassName)},
		Provisioner:          pulumi.String(c.Volumes.Provisioner),
		Parameters:           pulumi.ToStringMap(c.Volumes.Parameters),
		ReclaimPolicy:        pulumi.String("Retain"),
		VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"),
		AllowVolumeExpansion: pulumi.Bool(true),
	}, on, pulumi.DependsOn(c.Ready)); err != nil {
		return nil, err
	}
	placement, err := NewNamespace(ctx, cfg, provider, StorageClassName, pulumi.DependsOn(c.Ready))
	if err != nil {
		return nil, err
	}
	placement.SeparateNodes = len(c.Zones) == 0
	if _, err := corev1.NewServiceAccount(ctx, StorageAccountName, &corev1.ServiceAccountArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name:        pulumi.String(StorageAccountName),
			Namespace:   placement.Namespace,
			Annotations: pulumi.StringMap(c.Identity),
		},
	}, on); err != nil {
		return nil, err
	}
	if pg.TLS.CA != (pulumi.StringOutput{}) {
		if _, err := kube.NewConfigMap(ctx, CAConfigMap, placement.Namespace, kube.Labels(CAConfigMap, nil),
			pulumi.StringMap{CAFile: pg.TLS.CA}, on); err != nil {
			return nil, err
		}
	}
	return &Foundation{
		Provider:           provider,
		Namespace:          cfg.Namespace,
		Zones:              c.Zones,
		Placement:          placement,
		AwaitLoadBalancers: cfg.Cluster.AwaitLoadBalancers,
		Kubeconfig:         c.Kubeconfig,
		ClickHousePool:     ClickHousePool,
		Postgres:           pg,
		ObjectStorage:      store,
	}, nil
}
