// Package local is the foundation of the "local" cloud: an existing Kubernetes cluster (the
// local control plane in tests, any kubeconfig elsewhere), with in-cluster stand-ins for what
// a cloud would manage: PostgreSQL and an S3-compatible object store.
package local

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/objectstore"
	"github.com/posthog-deploy/posthog-deploy/components/postgres"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// New returns the foundation of the cluster that the ambient kubeconfig (KUBECONFIG, or
// ~/.kube/config) points at, with the in-cluster database and object store.
func New(ctx *pulumi.Context, name string, args foundation.Args, opts ...pulumi.ResourceOption) (*foundation.Foundation, error) {
	cfg := args.Config
	kubeconfig, err := ambientKubeconfig()
	if err != nil {
		return nil, err
	}
	f, under, err := foundation.Begin(ctx, config.Local, name, opts...)
	if err != nil {
		return nil, err
	}
	clusterArgs := foundation.ClusterArgs{Config: cfg}
	if kubeconfig != "" {
		// Contents, not a path: every provider version accepts them. They hold credentials.
		clusterArgs.Kubeconfig = pulumi.ToSecret(pulumi.String(kubeconfig)).(pulumi.StringOutput)
	}
	k8s, err := foundation.NewCluster(ctx, "cluster", clusterArgs, pulumi.Parent(f))
	if err != nil {
		return nil, err
	}
	on := pulumi.Composite(under, pulumi.Provider(k8s.Provider))
	var exporter *config.Image
	if cfg.Monitoring.Enabled {
		image := config.Current().PostgresExporter.Image
		exporter = &image
	}
	pg, err := postgres.New(ctx, postgres.Name, postgres.Args{
		Config: cfg.Postgres, Password: cfg.Secrets.PostgresPassword, Placement: k8s.Placement, Exporter: exporter,
	}, on)
	if err != nil {
		return nil, err
	}
	store, err := objectstore.New(ctx, objectstore.Name, objectstore.Args{
		Config: cfg.ObjectStore, SecretKey: cfg.Secrets.ObjectStoreSecretKey, Placement: k8s.Placement,
	}, on)
	if err != nil {
		return nil, err
	}
	return f.Finish(ctx, cfg, k8s, nil, pg.Endpoint, store.Storage)
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
