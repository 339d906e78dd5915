// Package local is the foundation of the "local" cloud: an existing Kubernetes cluster (the
// local control plane in tests, any kubeconfig elsewhere), with in-cluster stand-ins for what
// a cloud would manage.
package local

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/postgres"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// New returns the foundation of the cluster that the ambient kubeconfig (KUBECONFIG, or
// ~/.kube/config) points at.
func New(ctx *pulumi.Context, cfg *config.Config) (*foundation.Foundation, error) {
	// The kubeconfig is left to the provider's environment, so that pointing the stack at a
	// restarted control plane (new certificates) does not read as a new cluster.
	provider, err := kubernetes.NewProvider(ctx, "cluster", &kubernetes.ProviderArgs{})
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
	return f, nil
}
