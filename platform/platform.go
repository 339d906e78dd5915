// Package platform is the whole Pulumi program, one function that both `pulumi up` (main.go)
// and the Automation API driver (cmd/stack) run: config → cloud foundation → data services →
// PostHog.
package platform

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/clickhouse"
	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/local"
	"github.com/posthog-deploy/posthog-deploy/components/posthog"
	"github.com/posthog-deploy/posthog-deploy/components/zookeeper"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Program deploys the stack's platform.
func Program(ctx *pulumi.Context) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}
	f, err := newFoundation(ctx, cfg)
	if err != nil {
		return err
	}

	zk, err := zookeeper.New(ctx, cfg.ZooKeeper, f.Namespace, f.Placement, f.Options()...)
	if err != nil {
		return err
	}
	ch, err := clickhouse.New(ctx, cfg.ClickHouse, f.Namespace, clickhouse.Args{
		ZooKeeper: zk.Nodes, ZooKeeperPort: zookeeper.ClientPort, Password: cfg.Secrets.ClickHousePassword,
	}, f.Placement, append(f.Options(), pulumi.DependsOn([]pulumi.Resource{zk}))...)
	if err != nil {
		return err
	}

	app, err := posthog.New(ctx, cfg.PostHog, posthog.Args{
		Postgres: f.Postgres, ClickHouse: ch, Secrets: cfg.Secrets, AwaitLoadBalancers: f.AwaitLoadBalancers,
	}, f.Placement, f.Options()...)
	if err != nil {
		return err
	}

	ctx.Export("namespace", pulumi.String(f.Namespace))
	ctx.Export("url", pulumi.String(app.URL))
	ctx.Export("clickhouseHost", pulumi.String(ch.Host))
	ctx.Export("clickhouseCluster", pulumi.String(ch.Topology.Cluster))
	ctx.Export("zookeeperNodes", pulumi.ToStringArray(zk.Nodes))
	ctx.Export("postgresHost", f.Postgres.Host)
	return nil
}

// newFoundation provisions the stack's cloud: its cluster, network, database and buckets.
func newFoundation(ctx *pulumi.Context, cfg *config.Config) (*foundation.Foundation, error) {
	switch cfg.Cloud {
	case config.Local:
		return local.New(ctx, cfg)
	default:
		return nil, fmt.Errorf("%s:cloud: %q is not deployable yet: only %q is (the cloud foundations are issue #4)",
			config.Namespace, cfg.Cloud, config.Local)
	}
}
