// Package foundation is the shape every cloud provides to the data plane: a Kubernetes
// cluster with a namespace to deploy into, how stateful volumes are placed, and a PostgreSQL
// endpoint. Nothing cloud-specific passes this shape; the data plane never asks which cloud
// it runs on.
package foundation

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Foundation is what a cloud (or an existing cluster) gives the data plane.
type Foundation struct {
	// Provider deploys onto the stack's cluster.
	Provider *kubernetes.Provider
	// Namespace is the name of the namespace every workload goes into.
	Namespace string
	// Placement carries the namespace, storage class, zone spreading and protection.
	Placement kube.Placement
	// AwaitLoadBalancers is false where LoadBalancer Services and Ingresses never get an
	// address (no load-balancer controller), so their await is skipped there only.
	AwaitLoadBalancers bool
	Postgres           Postgres
	ObjectStorage      ObjectStorage
}

// ObjectStorage is an S3-compatible endpoint with PostHog's buckets, all versioned.
type ObjectStorage struct {
	// Endpoint is the S3 API's URL.
	Endpoint string
	Region   string
	Buckets  Buckets
	// Credentials are static keys; nil where pods reach the buckets through workload identity.
	Credentials *Credentials
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
}

// URL is the DATABASE_URL PostHog reads, a Pulumi secret since it holds the password.
func (p Postgres) URL() pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.All(p.Host, p.Password).ApplyT(func(v []any) string {
		return fmt.Sprintf("postgres://%s:%s@%s:%d/%s", p.User, v[1], v[0], p.Port, p.Database)
	})).(pulumi.StringOutput)
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
			Labels: pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("posthog")},
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
