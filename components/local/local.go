// Package local is the foundation of the "local" cloud: an existing Kubernetes cluster (the
// local control plane in tests, any kubeconfig elsewhere), with in-cluster stand-ins for what
// a cloud would manage: PostgreSQL and an S3-compatible object store.
package local

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/objectstore"
	"github.com/posthog-deploy/posthog-deploy/components/postgres"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// New returns the foundation of the cluster that the ambient kubeconfig (KUBECONFIG, or
// ~/.kube/config) points at.
func New(ctx *pulumi.Context, cfg *config.Config) (*foundation.Foundation, error) {
	args := &kubernetes.ProviderArgs{}
	kubeconfig, err := ambientKubeconfig()
	if err != nil {
		return nil, err
	}
	if kubeconfig != "" {
		// Contents, not a path: every provider version accepts them. They hold credentials.
		args.Kubeconfig = pulumi.ToSecret(pulumi.String(kubeconfig)).(pulumi.StringOutput).ToStringPtrOutput()
	}
	provider, err := kubernetes.NewProvider(ctx, "cluster", args)
	if err != nil {
		return nil, err
	}
	placement, err := foundation.NewNamespace(ctx, cfg, provider, cfg.Cluster.StorageClass)
	if err != nil {
		return nil, err
	}
	f := &foundation.Foundation{
		Provider:           provider,
		Namespace:          cfg.Namespace,
		Placement:          placement,
		AwaitLoadBalancers: cfg.Cluster.AwaitLoadBalancers,
	}
	pg, err := postgres.New(ctx, cfg.Postgres, cfg.Namespace, cfg.Secrets.PostgresPassword, placement, f.Options()...)
	if err != nil {
		return nil, err
	}
	f.Postgres = pg.Endpoint
	f.Postgres.TLS = foundation.PostgresTLS{Mode: "disable"}
	store, err := objectstore.New(ctx, cfg.ObjectStore, cfg.Namespace, cfg.Secrets.ObjectStoreSecretKey, placement, f.Options()...)
	if err != nil {
		return nil, err
	}
	f.ObjectStorage = store.Storage
	return f, nil
}

// ambientKubeconfig reads the kubeconfig kubectl would use: the first file in KUBECONFIG, else
// ~/.kube/config. Empty means none, and the provider falls back to in-cluster credentials.
func ambientKubeconfig() (string, error) {
	path := filepath.SplitList(os.Getenv("KUBECONFIG"))
	if len(path) == 0 {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil
		}
		path = []string{filepath.Join(home, ".kube", "config")}
	}
	b, err := os.ReadFile(path[0])
	if os.IsNotExist(err) && os.Getenv("KUBECONFIG") == "" {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the kubeconfig of the local stack's cluster (KUBECONFIG): %w", err)
	}
	return string(b), nil
}
