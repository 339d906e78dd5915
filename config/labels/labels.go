// Package labels names the labels the program puts on its workloads and nodes, and the values
// that say which workload a pod belongs to: the one place the program and the policy rules that
// select its objects both read them from.
package labels

// Keys of the labels on every workload's objects and pods.
const (
	// App names the workload (one of the values below).
	App = "app.kubernetes.io/name"
	// PartOf ties every object to the platform (value Platform).
	PartOf   = "app.kubernetes.io/part-of"
	Platform = "posthog"
	// Shard and Replica place a ClickHouse replica's pod in the cluster's topology.
	Shard   = "clickhouse.posthog.com/shard"
	Replica = "clickhouse.posthog.com/replica"
)

// Node labels: the dedicated pool a node belongs to (also its taint's key), and the topology
// keys that spreading uses.
const (
	Pool = "posthog.com/pool"
	Zone = "topology.kubernetes.io/zone"
	Host = "kubernetes.io/hostname"
)

// Values of App for the workloads the rules look at.
const (
	ClickHouse       = "clickhouse"
	ClickHouseBackup = "clickhouse-backup"
	Kafka            = "kafka"
	ZooKeeper        = "zookeeper"
	PgBouncer        = "pgbouncer"
)
