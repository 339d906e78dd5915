package platform

import (
	"time"

	"github.com/posthog-deploy/posthog-deploy/components/clickhouse"
	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kafka"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/components/monitoring"
	"github.com/posthog-deploy/posthog-deploy/components/pgbouncer"
	"github.com/posthog-deploy/posthog-deploy/components/postgres"
	"github.com/posthog-deploy/posthog-deploy/components/posthog"
	"github.com/posthog-deploy/posthog-deploy/components/redis"
	"github.com/posthog-deploy/posthog-deploy/components/zookeeper"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// Targets are the metrics endpoints of the stack's workloads, each scraped by a PodMonitor
// under a job of its name, which the alerts select on.
func Targets(cfg *config.Config) []monitoring.Target {
	shard := []string{labels.Shard, labels.Replica}
	t := []monitoring.Target{
		{Job: "clickhouse", App: clickhouse.App, Port: "metrics", PodLabels: shard},
		{Job: "clickhouse-backup", App: clickhouse.App, Port: "backup-api", PodLabels: shard},
		{Job: "zookeeper", App: zookeeper.Name, Port: kube.MetricsPort},
		{Job: "kafka", App: kafka.ExporterApp, Port: kube.MetricsPort},
		{Job: "redis", App: redis.Name, Port: kube.MetricsPort},
		{Job: "pgbouncer", App: pgbouncer.Name, Port: kube.MetricsPort},
	}
	for _, svc := range posthog.Services(cfg.PostHog) {
		switch {
		case svc.MetricsPort != 0:
			t = append(t, monitoring.Target{Job: svc.Name, App: svc.Name, Port: kube.MetricsPort})
		case svc.MetricsPath != "":
			t = append(t, monitoring.Target{Job: svc.Name, App: svc.Name, Port: "http", Path: svc.MetricsPath})
		}
	}
	if config.Facts(cfg.Cloud).StandIns {
		t = append(t, monitoring.Target{Job: "postgres", App: postgres.Name, Port: kube.MetricsPort})
	}
	return t
}

// Monitoring is the monitoring component's input: the targets, the figures the alerts derive
// from the stack's schedules, and the integrity check of every ClickHouse replica.
func Monitoring(cfg *config.Config, t clickhouse.Topology, store foundation.ObjectStorage, p kube.Placement) monitoring.Args {
	r := config.Current()
	backupGap, _ := config.CronGap(cfg.ClickHouse.Backup.Schedule)
	checkGap, _ := config.CronGap(cfg.Monitoring.IntegritySchedule)
	slack := time.Duration(cfg.Monitoring.BackupSlackHours) * time.Hour
	in := &monitoring.Integrity{
		Store: store, Password: cfg.Secrets.ClickHousePassword,
		ClickHouse: cfg.ClickHouse.Image, Lister: r.Lister.Image, Pusher: r.Curl.Image, Pushgateway: r.Pushgateway.Image,
	}
	if cfg.ClickHouse.ColdStorage.Enabled {
		in.ColdDisk = clickhouse.ColdDiskName
	}
	for _, rep := range t.Replicas() {
		in.Replicas = append(in.Replicas, monitoring.IntegrityReplica{Name: rep.Name, Host: rep.Host, Shard: rep.Shard,
			ColdPrefix: clickhouse.ColdPrefix(t, rep), BackupPath: clickhouse.BackupPath(t, rep.Shard)})
	}
	return monitoring.Args{
		Config: cfg.Monitoring, Environment: cfg.Environment, Targets: Targets(cfg),
		Rules: monitoring.RuleParams{
			BackupMaxAgeSeconds:    int((backupGap + slack).Seconds()),
			BackupKeep:             cfg.ClickHouse.Backup.Keep,
			IntegrityMaxAgeSeconds: int((2*checkGap + time.Hour).Seconds()),
			Namespace:              cfg.Namespace,
			ClickHouseGroup:        r.ClickHouseGroup, IngestionGroup: r.IngestionGroup,
		},
		Integrity: in,
		Placement: p,
	}
}
