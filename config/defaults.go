package config

// Defaults is the configuration a stack gets for every key it leaves out: the safe choice for
// its environment. Dev is small; staging and prod get quorums and replicated shards.
func Defaults(cloud Cloud, env Environment) *Config {
	ha := env != Dev
	pick := func(dev, other int) int {
		if ha {
			return other
		}
		return dev
	}
	c := &Config{
		Cloud:       cloud,
		Environment: env,
		Namespace:   "posthog",
		Cluster: Cluster{
			SpreadZones: true,
			// Cloud clusters get load balancers; an existing cluster may have no controller.
			AwaitLoadBalancers: cloud != Local,
		},
		ZooKeeper: ZooKeeper{
			Replicas:           pick(1, 3),
			Image:              "zookeeper:3.8.4",
			Storage:            "10Gi",
			PurgeIntervalHours: 1,
			SnapRetainCount:    5,
		},
		ClickHouse: ClickHouse{
			Cluster:  "posthog",
			Shards:   1,
			Replicas: pick(1, 2),
			Image:    "clickhouse/clickhouse-server:24.8.14.39",
			Storage:  "100Gi",
		},
		Postgres: Postgres{
			Image:   "postgres:15.10-alpine",
			Storage: "10Gi",
		},
		PostHog: PostHog{
			Image:  "posthog/posthog:release-1.43.0",
			Domain: "posthog.local",
			Web:    Scale{Min: pick(1, 2), Max: pick(2, 10)},
		},
	}
	if env == Prod {
		c.ClickHouse.Shards = 2
	}
	return c
}
