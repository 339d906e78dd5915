// Package platform is the whole Pulumi program, one function that both `pulumi up` (main.go)
// and the Automation API driver (cmd/stack) run: config → cloud foundation → data services →
// PostHog.
package platform

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/aws"
	"github.com/posthog-deploy/posthog-deploy/components/azure"
	"github.com/posthog-deploy/posthog-deploy/components/clickhouse"
	"github.com/posthog-deploy/posthog-deploy/components/digitalocean"
	"github.com/posthog-deploy/posthog-deploy/components/edge"
	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/gcp"
	"github.com/posthog-deploy/posthog-deploy/components/kafka"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/components/local"
	"github.com/posthog-deploy/posthog-deploy/components/monitoring"
	"github.com/posthog-deploy/posthog-deploy/components/netpol"
	"github.com/posthog-deploy/posthog-deploy/components/objectstore"
	"github.com/posthog-deploy/posthog-deploy/components/pgbouncer"
	"github.com/posthog-deploy/posthog-deploy/components/postgres"
	"github.com/posthog-deploy/posthog-deploy/components/posthog"
	"github.com/posthog-deploy/posthog-deploy/components/redis"
	"github.com/posthog-deploy/posthog-deploy/components/zookeeper"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Foundations builds each cloud's foundation: its cluster, network, database and buckets. Every
// entry of config.Registry has one; a new cloud is a registry entry, a package under components/
// and a line here.
var Foundations = map[config.Cloud]func(*pulumi.Context, string, foundation.Args, ...pulumi.ResourceOption) (*foundation.Foundation, error){
	config.AWS:          aws.New,
	config.GCP:          gcp.New,
	config.DigitalOcean: digitalocean.New,
	config.Azure:        azure.New,
	config.Local:        local.New,
}

// Program deploys the stack's platform: the config, then the cloud's foundation, then the data
// services on its cluster, each handed the endpoints of those it uses (and waiting for them),
// then PostHog.
func Program(ctx *pulumi.Context) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}
	release := config.Current()
	newFoundation, ok := Foundations[cfg.Cloud]
	if !ok {
		return fmt.Errorf("%s:cloud: %q has no foundation", config.Namespace, cfg.Cloud)
	}
	f, err := newFoundation(ctx, foundation.Name(cfg), foundation.Args{Config: cfg})
	if err != nil {
		return err
	}
	place, on := f.Placement, pulumi.Provider(f.Provider)

	metrics := cfg.Monitoring.Enabled
	exporter := func(p config.Pin) *config.Image {
		if !metrics {
			return nil
		}
		return &p.Image
	}
	zk, err := zookeeper.New(ctx, zookeeper.Name, zookeeper.Args{Config: cfg.ZooKeeper, Metrics: metrics, Placement: place}, on)
	if err != nil {
		return err
	}
	kf, err := kafka.New(ctx, kafka.Name, kafka.Args{
		Config: cfg.Kafka, Topics: release.Topics, ZooKeeper: zk.Endpoint, Exporter: exporter(release.KafkaExporter), Placement: place,
	}, on)
	if err != nil {
		return err
	}
	ch, err := clickhouse.New(ctx, cfg.ClickHouse.Cluster, clickhouse.Args{
		Config: cfg.ClickHouse, ZooKeeper: zk.Endpoint, Password: cfg.Secrets.ClickHousePassword,
		Backups: f.ObjectStorage, Pool: f.ClickHousePool, Placement: place,
	}, on)
	if err != nil {
		return err
	}
	rd, err := redis.New(ctx, redis.Name, redis.Args{Config: cfg.Redis, Exporter: exporter(release.RedisExporter), Placement: place}, on)
	if err != nil {
		return err
	}
	pool, err := pgbouncer.New(ctx, pgbouncer.Name, pgbouncer.Args{
		Config: cfg.PgBouncer, Upstream: f.Postgres, Fetch: cfg.Postgres.ClientImage, Exporter: exporter(release.PgBouncerExporter),
		Placement: place,
	}, on)
	if err != nil {
		return err
	}

	var edgeOf posthog.Edge
	if !config.Facts(cfg.Cloud).StandIns {
		e, err := edge.New(ctx, "edge", edge.Args{Config: cfg.PostHog, Environment: cfg.Environment,
			LoadBalancer: config.Facts(cfg.Cloud).LoadBalancer, Placement: place}, on)
		if err != nil {
			return err
		}
		edgeOf = posthog.Edge{Class: e.Class, Issuer: e.Issuer, Middleware: e.Middleware, Ready: e.Ready}
	}

	app, err := posthog.New(ctx, posthog.Name, posthog.Args{
		Config: cfg.PostHog, Postgres: pool.Endpoint, Migrations: f.Postgres, Fetch: cfg.Postgres.ClientImage,
		ObjectStorage: f.ObjectStorage, ClickHouse: ch.Endpoint, ClickHouseCluster: ch.Topology.Cluster,
		Kafka: kf.Endpoint, Redis: rd.Endpoint, Secrets: cfg.Secrets,
		SkipServiceVersionCheck: cfg.SkipServiceVersionCheck(), AwaitLoadBalancers: f.AwaitLoadBalancers, Edge: edgeOf,
		Placement: place,
	}, on)
	if err != nil {
		return err
	}

	if metrics {
		if _, err := monitoring.New(ctx, "monitoring", Monitoring(cfg, ch.Topology, f.ObjectStorage, place), on); err != nil {
			return err
		}
	}
	scrapers := ""
	if metrics {
		scrapers = cfg.Monitoring.Namespace
	}
	if _, err := netpol.New(ctx, "network-policies", netpol.Args{Access: Access(cfg), Scrapers: scrapers, Placement: place}, on); err != nil {
		return err
	}

	ctx.Export("namespace", pulumi.String(f.Namespace))
	ctx.Export("url", pulumi.String(app.URL))
	if cfg.Cloud != config.Local {
		// The record to create in the domain's zone: A for an address, CNAME for a host name.
		ctx.Export("loadBalancer", app.Address)
		ctx.Export("dnsRecord", app.Address.ApplyT(func(a string) string {
			if a == "" {
				return "the load balancer has no address yet: run `pulumi up` again once the cloud assigns it"
			}
			kind := "CNAME"
			if _, err := netip.ParseAddr(a); err == nil {
				kind = "A"
			}
			return fmt.Sprintf("%s %s %s", cfg.PostHog.Domain, kind, a)
		}).(pulumi.StringOutput))
	}
	ctx.Export("clickhouseHost", pulumi.String(ch.Endpoint.Hosts[0]))
	ctx.Export("clickhouseCluster", pulumi.String(ch.Topology.Cluster))
	ctx.Export("zookeeperNodes", pulumi.ToStringArray(zk.Endpoint.Hosts))
	ctx.Export("kafkaHosts", pulumi.ToStringArray(kf.Endpoint.Addresses()))
	ctx.Export("redisUrl", pulumi.String(rd.URL()))
	ctx.Export("objectStorageEndpoint", pulumi.String(f.ObjectStorage.Endpoint))
	ctx.Export("postgresHost", f.Postgres.Host)
	ctx.Export("buckets", pulumi.ToStringArray([]string{f.ObjectStorage.Buckets.Data, f.ObjectStorage.Buckets.Backups}))
	ctx.Export("zones", pulumi.ToStringArray(f.Zones))
	if cfg.Cloud != config.Local {
		ctx.Export("kubeconfig", f.Kubeconfig)
	}
	return nil
}

// Access is who may connect to whom inside the namespace (everything else is denied): each data
// service admits its clients and its own peers; PostHog's web and capture are public, served
// through the ingress controller.
func Access(cfg *config.Config) []netpol.Access {
	var app []string
	for _, svc := range posthog.Services(cfg.PostHog) {
		app = append(app, svc.Name)
	}
	app = append(app, posthog.MigrateApp)
	with := func(clients ...string) []string { return append(append([]string{}, app...), clients...) }
	metrics := []string{kube.MetricsPort}
	access := []netpol.Access{
		{Service: zookeeper.Name, Clients: []string{zookeeper.Name, kafka.Name, clickhouse.App}, ScrapePorts: metrics},
		{Service: kafka.Name, Clients: with(kafka.Name, clickhouse.App, kafka.TopicsApp)},
		// The backup Jobs call the clickhouse-backup sidecar's API in the replicas' pods; the
		// integrity check asks the replicas what their cold disks reference.
		{Service: clickhouse.App, Clients: with(clickhouse.App, clickhouse.BackupApp),
			ScrapePorts: []string{"metrics", "backup-api"}},
		{Service: redis.Name, Clients: app, ScrapePorts: metrics},
		{Service: pgbouncer.Name, Clients: app, ScrapePorts: metrics},
		{Service: "posthog-web", Public: true},
		{Service: "posthog-events", Public: true},
	}
	if cfg.Monitoring.Enabled {
		access = append(access,
			netpol.Access{Service: kafka.ExporterApp, ScrapePorts: metrics},
			netpol.Access{Service: "posthog-plugins", ScrapePorts: []string{"http"}},
			netpol.Access{Service: monitoring.PushgatewayApp, Clients: []string{monitoring.IntegrityApp}, ScrapePorts: []string{"http"}})
		access[1].Clients = append(access[1].Clients, kafka.ExporterApp)
		access[2].Clients = append(access[2].Clients, monitoring.IntegrityApp)
	}
	if cfg.PostHog.TLS == config.TLSLetsEncrypt {
		// cert-manager's HTTP-01 solver pods (pkg/apis/acme/v1 SolverIdentificationLabelKey, set
		// by pkg/issuer/acme/http/pod.go at v1.21.1): Let's Encrypt reaches them through Traefik.
		access = append(access, netpol.Access{Service: "acme-http01-solver", Public: true,
			Labels: map[string]string{"acme.cert-manager.io/http01-solver": "true"}})
	}
	if config.Facts(cfg.Cloud).StandIns {
		access = append(access,
			// The migrations connect directly; the services through PgBouncer.
			netpol.Access{Service: postgres.Name, Clients: []string{pgbouncer.Name, posthog.MigrateApp}, ScrapePorts: metrics},
			netpol.Access{Service: objectstore.Name, Clients: with(clickhouse.App, objectstore.BucketsApp)})
		if cfg.Monitoring.Enabled {
			access[len(access)-1].Clients = append(access[len(access)-1].Clients, monitoring.IntegrityApp)
		}
	}
	return access
}
