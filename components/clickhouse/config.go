package clickhouse

import (
	"fmt"
	"strings"
)

// Ports served by every replica.
const (
	HTTPPort        = 8123
	NativePort      = 9000
	InterserverPort = 9009
	MetricsPort     = 9363
)

// ServerConfig renders config.d/posthog.xml, shared by every replica: the cluster's
// remote_servers, the ZooKeeper ensemble, and MergeTree settings with zero-copy replication
// explicitly off (it lost PostHog a region's data; it is never enabled here).
//
// The ensemble is given no <root>: ClickHouse refuses to start on a root znode that does not
// exist and never creates one, and PostHog's tables name their own paths under /clickhouse
// (/clickhouse/tables/{shard}/posthog.<table>), as its chart left them.
func ServerConfig(t Topology, zooKeeper []string, zooKeeperPort int) string {
	var shards []node
	for _, shard := range t.Shards {
		s := []node{leaf("internal_replication", "true")}
		for _, r := range shard {
			s = append(s, el("replica", leaf("host", r.Host), leaf("port", NativePort)))
		}
		shards = append(shards, el("shard", s...))
	}
	var zk []node
	for _, h := range zooKeeper {
		zk = append(zk, el("node", leaf("host", h), leaf("port", zooKeeperPort)))
	}
	zk = append(zk, leaf("session_timeout_ms", 30000))
	return document(
		el("logger", leaf("level", "information"), leaf("console", 1)),
		leaf("listen_host", "0.0.0.0"),
		leaf("http_port", HTTPPort),
		leaf("tcp_port", NativePort),
		leaf("interserver_http_port", InterserverPort),
		leaf("max_concurrent_queries", 200),
		el("prometheus", leaf("endpoint", "/metrics"), leaf("port", MetricsPort),
			leaf("metrics", "true"), leaf("events", "true"), leaf("asynchronous_metrics", "true")),
		el("remote_servers", el(t.Cluster, shards...)),
		el("zookeeper", zk...),
		el("distributed_ddl", leaf("path", "/clickhouse/task_queue/ddl")),
		el("merge_tree",
			leaf("allow_remote_fs_zero_copy_replication", 0),
			leaf("max_suspicious_broken_parts", 5)),
	)
}

// ReplicaConfig renders config.d/replica.xml for one replica: its macros, which replicated
// tables use for their ZooKeeper paths, the host it advertises to its peers, and, with cold,
// its own object-storage disk.
func ReplicaConfig(t Topology, r Replica, cold *ColdDisk) string {
	parts := []node{
		leaf("interserver_http_host", r.Host),
		el("macros",
			leaf("cluster", t.Cluster),
			leaf("shard", r.Shard),
			leaf("replica", r.Name)),
	}
	if cold != nil {
		parts = append(parts, cold.storage(t, r))
	}
	return document(parts...)
}

// ColdDiskName is the object disk's name in the storage configuration (system.disks).
const ColdDiskName = "cold"

// ColdPrefix is where in the data bucket a replica's cold disk writes: each replica its own
// copy, so nothing is shared between replicas (zero-copy stays off).
func ColdPrefix(t Topology, r Replica) string {
	return fmt.Sprintf("clickhouse-cold/%s/%s", t.Cluster, r.Name)
}

// ColdDisk is the object-storage tier: a bucket URL (endpoint/bucket/, path style) under which
// every replica gets its own prefix.
type ColdDisk struct {
	BucketURL  string
	MoveFactor float64
}

// storage makes the default policy two volumes, the local disk then the replica's object disk,
// so every table uses it without naming a policy. Credentials come from the server's
// environment (or workload identity), never from this file.
func (c ColdDisk) storage(t Topology, r Replica) node {
	return el("storage_configuration",
		el("disks", el(ColdDiskName,
			leaf("type", "s3"),
			leaf("endpoint", c.BucketURL+ColdPrefix(t, r)+"/"),
			leaf("use_environment_credentials", "true"),
			leaf("metadata_path", "/var/lib/clickhouse/disks/cold/"))),
		el("policies", el("default",
			el("volumes",
				el("hot", leaf("disk", "default")),
				el("cold", leaf("disk", "cold"))),
			leaf("move_factor", c.MoveFactor))),
	)
}

// ClusterSecretConfig renders config.d/cluster-secret.xml, merged into the cluster of
// remote_servers: with the inter-server secret, a query one replica sends another shard runs
// there as the user who asked (PostHog's), authenticated by the secret instead of a password,
// and no replica accepts such a query from anything that lacks the secret.
func ClusterSecretConfig(t Topology, secret string) string {
	return document(el("remote_servers", el(t.Cluster, leaf("secret", secret))))
}

// ProfilesConfig renders users.d/profiles.xml: the default profile, with only the
// experimental settings the stack allows by name switched on. Its settings go by the names
// ClickHouse 22.8 knows: insert_distributed_sync became distributed_foreground_insert in 23.x.
func ProfilesConfig(allowExperimental []string) string {
	settings := []node{
		leaf("max_memory_usage", 10_000_000_000),
		leaf("load_balancing", "random"),
		leaf("insert_distributed_sync", 0),
	}
	for _, s := range allowExperimental {
		settings = append(settings, leaf(s, 1))
	}
	return document(el("profiles", el("default", settings...), el("readonly", leaf("readonly", 1))))
}

// User is the ClickHouse user PostHog connects as.
const User = "posthog"

// UsersConfig renders users.d/users.xml: PostHog's user with its password's SHA-256, and the
// password-less default user confined to the replica's own pod (the backup agent beside it).
// Queries between replicas need no default user: they run as PostHog's user under the
// cluster's secret (ClusterSecretConfig).
func UsersConfig(passwordSHA256 string) string {
	return document(el("users",
		el("default",
			el("networks", leaf("ip", "::1"), leaf("ip", "127.0.0.1")),
			leaf("profile", "default"), leaf("quota", "default")),
		el(User,
			leaf("password_sha256_hex", strings.ToLower(passwordSHA256)),
			el("networks", leaf("ip", "::/0")),
			leaf("profile", "default"), leaf("quota", "default")),
	))
}
