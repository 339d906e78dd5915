// Package platform is the whole Pulumi program, one function that both `pulumi up` (main.go)
// and the Automation API driver (cmd/stack) run: config → cloud foundation → data services →
// PostHog.
package platform

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/aws"
	"github.com/posthog-deploy/posthog-deploy/components/azure"
	"github.com/posthog-deploy/posthog-deploy/components/clickhouse"
	"github.com/posthog-deploy/posthog-deploy/components/digitalocean"
	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/gcp"
	"github.com/posthog-deploy/posthog-deploy/components/kafka"
	"github.com/posthog-deploy/posthog-deploy/components/local"
	"github.com/posthog-deploy/posthog-deploy/components/pgbouncer"
	"github.com/posthog-deploy/posthog-deploy/components/posthog"
	"github.com/posthog-deploy/posthog-deploy/components/redis"
	"github.com/posthog-deploy/posthog-deploy/components/zookeeper"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Program deploys the stack's platform.
func Program(ctx *pulumi.Context) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}
	release := config.Current()
	// Derived sizing is checked with the config, before any resource exists.
	kafkaRetention, err := kafka.RetentionBytes(cfg.Kafka, release.Topics)
	if err != nil {
		return err
	}

	f, err := newFoundation(ctx, cfg)
	if err != nil {
		return err
	}
	ns, place, on := f.Namespace, f.Placement, f.Options()
	after := func(rs ...pulumi.Resource) []pulumi.ResourceOption { return append(on, pulumi.DependsOn(rs)) }

	zk, err := zookeeper.New(ctx, cfg.ZooKeeper, ns, place, on...)
	if err != nil {
		return err
	}
	kf, err := kafka.New(ctx, cfg.Kafka, release.Topics, kafkaRetention, ns, zk.Addresses(), place, after(zk)...)
	if err != nil {
		return err
	}
	ch, err := clickhouse.New(ctx, cfg.ClickHouse, ns, clickhouse.Args{
		ZooKeeper: zk.Nodes, ZooKeeperPort: zookeeper.ClientPort, Password: cfg.Secrets.ClickHousePassword,
		Backups: f.ObjectStorage, Pool: f.ClickHousePool,
	}, place, after(zk)...)
	if err != nil {
		return err
	}
	rd, err := redis.New(ctx, cfg.Redis, ns, place, on...)
	if err != nil {
		return err
	}
	pool, err := pgbouncer.New(ctx, cfg.PgBouncer, ns, pgbouncer.Args{Upstream: f.Postgres, Fetch: cfg.Postgres.ClientImage}, place, on...)
	if err != nil {
		return err
	}

	app, err := posthog.New(ctx, cfg.PostHog, posthog.Args{
		Postgres: pool.Endpoint, Migrations: f.Postgres, Fetch: cfg.Postgres.ClientImage,
		ObjectStorage: f.ObjectStorage, ClickHouse: ch, KafkaHosts: kf.Hosts, RedisURL: rd.URL, Secrets: cfg.Secrets,
		SkipServiceVersionCheck: cfg.SkipServiceVersionCheck(), AwaitLoadBalancers: f.AwaitLoadBalancers,
		DependsOn: []pulumi.Resource{ch, kf.Topics, rd, pool},
	}, place, on...)
	if err != nil {
		return err
	}

	ctx.Export("namespace", pulumi.String(f.Namespace))
	ctx.Export("url", pulumi.String(app.URL))
	ctx.Export("clickhouseHost", pulumi.String(ch.Host))
	ctx.Export("clickhouseCluster", pulumi.String(ch.Topology.Cluster))
	ctx.Export("zookeeperNodes", pulumi.ToStringArray(zk.Nodes))
	ctx.Export("kafkaHosts", pulumi.ToStringArray(kf.Hosts))
	ctx.Export("redisUrl", pulumi.String(rd.URL))
	ctx.Export("objectStorageEndpoint", pulumi.String(f.ObjectStorage.Endpoint))
	ctx.Export("postgresHost", f.Postgres.Host)
	ctx.Export("buckets", pulumi.ToStringArray([]string{f.ObjectStorage.Buckets.Data, f.ObjectStorage.Buckets.Backups}))
	ctx.Export("zones", pulumi.ToStringArray(f.Zones))
	if cfg.Cloud != config.Local {
		ctx.Export("kubeconfig", f.Kubeconfig)
	}
	return nil
}

// newFoundation provisions the stack's cloud: its cluster, network, database and buckets.
func newFoundation(ctx *pulumi.Context, cfg *config.Config) (*foundation.Foundation, error) {
	switch cfg.Cloud {
	case config.AWS:
		return aws.New(ctx, cfg)
	case config.GCP:
		return gcp.New(ctx, cfg)
	case config.DigitalOcean:
		return digitalocean.New(ctx, cfg)
	case config.Azure:
		return azure.New(ctx, cfg)
	case config.Local:
		return local.New(ctx, cfg)
	}
	return nil, fmt.Errorf("%s:cloud: %q has no foundation", config.Namespace, cfg.Cloud)
}
