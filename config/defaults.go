package config

// Defaults is the configuration a stack gets for every key it leaves out: the safe choice for
// its environment. Dev is small; staging and prod get quorums and replicated shards.
func Defaults(cloud Cloud, env Environment) *Config {
	ha := env != Dev
	pick := func(dev, other int) int { return choose(ha, dev, other) }
	r := Current()
	c := &Config{
		Cloud:       cloud,
		Environment: env,
		Namespace:   "posthog",
		Cluster: Cluster{
			SpreadZones:        Facts(cloud).Zoned,
			AwaitLoadBalancers: Facts(cloud).LoadBalancers,
		},
		ZooKeeper: ZooKeeper{
			Replicas:           pick(1, 3),
			Image:              r.ZooKeeper.Image,
			Storage:            "10Gi",
			PurgeIntervalHours: 1,
			SnapRetainCount:    5,
		},
		Kafka: Kafka{
			Brokers:           pick(1, 3),
			Image:             r.Kafka.Image,
			Storage:           choose(ha, "20Gi", "100Gi"),
			Partitions:        pick(1, 8),
			ReplicationFactor: pick(1, 3),
			MinInsyncReplicas: pick(1, 2),
			RetentionHours:    72,
		},
		Redis: Redis{
			Image:   r.Redis.Image,
			Storage: "5Gi",
		},
		ClickHouse: ClickHouse{
			Cluster:  "posthog",
			Shards:   1,
			Replicas: pick(1, 2),
			Image:    r.ClickHouse.Image,
			Storage:  "100Gi",
			Backup: Backup{
				Schedule:    "0 2 * * *",
				Keep:        choose(env == Prod, 7, 14),
				Image:       r.Backup.Image,
				ClientImage: r.Curl.Image,
			},
			ColdStorage: ColdStorage{MoveFactor: 0.1},
		},
		Postgres: Postgres{
			Image:       r.Postgres.Image,
			ClientImage: r.Curl.Image,
			Storage:     "10Gi",
		},
		PgBouncer: PgBouncer{
			Image:                r.PgBouncer.Image,
			Replicas:             pick(1, 2),
			PoolSize:             20,
			MaxClientConnections: 1000,
		},
		ObjectStore: ObjectStore{
			Image:       Image{Ref: "minio/minio:RELEASE.2024-12-18T13-15-44Z"},
			ClientImage: Image{Ref: "minio/mc:RELEASE.2024-11-21T17-21-54Z"},
			Storage:     "20Gi",
		},
		PostHog: PostHog{
			Image:   r.PostHog.Image,
			Domain:  "posthog.local",
			Web:     Scale{Min: pick(1, 2), Max: pick(2, 10)},
			Events:  Scale{Min: pick(1, 2), Max: pick(2, 20)},
			Plugins: Scale{Min: pick(1, 2), Max: pick(2, 10)},
			Workers: pick(1, 2),
			TLS:     TLSNone, AllowedSourceRanges: []string{"0.0.0.0/0"},
		},
	}
	c.Monitoring = monitoringDefaults(cloud, env)
	if env == Prod {
		c.ClickHouse.Shards = 2
	}
	cloudDefaults(c)
	return c
}

// choose is dev's value, or other's in staging and prod.
func choose[T any](ha bool, dev, other T) T {
	if ha {
		return other
	}
	return dev
}
