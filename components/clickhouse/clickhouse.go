// Package clickhouse deploys PostHog's analytics store as a sharded and replicated ClickHouse
// cluster. The layout is data (Topology) expanded by pure functions into one single-pod
// StatefulSet per replica with deterministic names, as Altinity's operator lays it out, and
// generated server config: remote_servers, macros, ZooKeeper, users and profiles; and the
// scheduled backups of every shard into the versioned backups bucket.
package clickhouse

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// App is the app.kubernetes.io/name of every replica; ServiceName is the cluster Service
// that spreads PostHog's queries over all replicas.
const (
	App         = labels.ClickHouse
	ServiceName = "clickhouse"
	// Database is the database PostHog creates its tables in.
	Database = "posthog"
	// DataPath is the official image's data directory; ConfigDir and UsersDir its drop-in
	// directories for server settings and users.
	DataPath  = "/var/lib/clickhouse"
	ConfigDir = "/etc/clickhouse-server/config.d"
	UsersDir  = "/etc/clickhouse-server/users.d"
)

// interserverSecret derives the cluster's inter-server secret from PostHog's password, so that
// it is a secret of the same strength, stable across runs, and needs no key of its own.
func interserverSecret(password string) string {
	mac := hmac.New(sha256.New, []byte(password))
	mac.Write([]byte("posthog-deploy/clickhouse/remote_servers/secret"))
	return hex.EncodeToString(mac.Sum(nil))
}

// Labels keys that place a pod in the topology.
const (
	ShardLabel   = labels.Shard
	ReplicaLabel = labels.Replica
)

// Cluster is the deployed ClickHouse cluster.
type Cluster struct {
	pulumi.ResourceState
	Topology Topology
	// Endpoint is the cluster Service, which spreads queries over every replica, and its native
	// port.
	Endpoint kube.Endpoint
}

// Args is the cluster's config and what it needs besides.
type Args struct {
	Config config.ClickHouse
	// ZooKeeper is the ensemble replication and distributed DDL coordinate through.
	ZooKeeper kube.Endpoint
	// Password is the posthog user's password, a Pulumi secret.
	Password pulumi.StringOutput
	// Backups is the object storage whose Backups bucket receives every shard's backups.
	Backups foundation.ObjectStorage
	// Pool is the dedicated node pool replicas run on ("" for any node).
	Pool      string
	Placement kube.Placement
}

// New deploys the cluster; name is the cluster's name in remote_servers.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	ch, p := args.Config, args.Placement
	t := NewTopology(name, ch.Shards, ch.Replicas, p.NamespaceName)
	c := &Cluster{Topology: t, Endpoint: kube.Endpoint{Hosts: []string{kube.ServiceHost(ServiceName, p.NamespaceName)}, Port: NativePort}}
	// The replicas start once the ensemble they replicate through exists.
	opts = append(opts, pulumi.DependsOn(args.ZooKeeper.Ready))
	if err := ctx.RegisterComponentResource("posthog-deploy:data:ClickHouse", name, c, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(c)
	labels := kube.Labels(App, nil)
	configMap := func(name, file, content string) error {
		_, err := kube.NewConfigMap(ctx, name, p.Namespace, labels, pulumi.StringMap{file: pulumi.String(content)}, child)
		return err
	}

	server := ServerConfig(t, args.ZooKeeper.Hosts, args.ZooKeeper.Port)
	profiles := ProfilesConfig(ch.AllowExperimental)
	if err := configMap("clickhouse-config", "posthog.xml", server); err != nil {
		return nil, err
	}
	if err := configMap("clickhouse-profiles", "profiles.xml", profiles); err != nil {
		return nil, err
	}
	users := args.Password.ApplyT(func(pw string) string {
		sum := sha256.Sum256([]byte(pw))
		return UsersConfig(hex.EncodeToString(sum[:]))
	}).(pulumi.StringOutput)
	if _, err := kube.NewSecret(ctx, "clickhouse-users", p.Namespace, labels, pulumi.StringMap{"users.xml": pulumi.ToSecret(users).(pulumi.StringOutput)}, child); err != nil {
		return nil, err
	}
	clusterSecret := args.Password.ApplyT(func(pw string) string {
		return ClusterSecretConfig(t, interserverSecret(pw))
	}).(pulumi.StringOutput)
	if _, err := kube.NewSecret(ctx, "clickhouse-cluster-secret", p.Namespace, labels,
		pulumi.StringMap{"cluster-secret.xml": pulumi.ToSecret(clusterSecret).(pulumi.StringOutput)}, child); err != nil {
		return nil, err
	}

	var cold *ColdDisk
	var objectEnv corev1.EnvFromSourceArray
	if ch.ColdStorage.Enabled {
		cold = &ColdDisk{BucketURL: bucketURL(args.Backups, args.Backups.Buckets.Data), MoveFactor: ch.ColdStorage.MoveFactor}
		if args.Backups.Credentials != nil {
			objectEnv = corev1.EnvFromSourceArray{corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(objectKeys)}}}
		}
	}
	keySecrets, keysHash, err := newKeySecrets(ctx, args.Backups, p, child)
	if err != nil {
		return nil, err
	}
	ports := []kube.Port{{Name: "http", Port: HTTPPort}, {Name: "native", Port: NativePort},
		{Name: "interserver", Port: InterserverPort}, {Name: "metrics", Port: MetricsPort}}
	var sets []pulumi.Resource
	for s, shard := range t.Shards {
		shardLabels := kube.Labels(App, map[string]string{ShardLabel: strconv.Itoa(s)})
		for _, r := range shard {
			replicaCfg := ReplicaConfig(t, r, cold)
			if err := configMap(r.Name, "replica.xml", replicaCfg); err != nil {
				return nil, err
			}
			set, err := kube.NewStateful(ctx, kube.Stateful{
				Name:     r.Name,
				Replicas: 1,
				Selector: kube.Labels(App, map[string]string{
					ShardLabel: strconv.Itoa(s), ReplicaLabel: strconv.Itoa(r.Index)}),
				SpreadGroup: shardLabels,
				Sidecars:    []kube.Container{backupAgent(ch.Backup, args.Backups, t, s, ch.ColdStorage.Enabled)},
				Container: kube.Container{
					Image:     ch.Image,
					EnvFrom:   objectEnv,
					Ports:     ports,
					Resources: kube.Resources{CPU: "1", Memory: "4Gi"},
					Readiness: kube.HTTPProbe("/ping", "http", 10),
					Liveness:  kube.HTTPProbe("/ping", "http", 30),
					Mounts:    []kube.Mount{{Volume: "config", Path: ConfigDir}, {Volume: "users", Path: UsersDir}},
				},
				DataPath: DataPath,
				Storage:  ch.Storage,
				Volumes: []kube.Volume{
					{Name: "config", ConfigMaps: []string{"clickhouse-config", r.Name}, Secrets: []string{"clickhouse-cluster-secret"}},
					{Name: "users", ConfigMaps: []string{"clickhouse-profiles"}, Secrets: []string{"clickhouse-users"}},
				},
				PodAnnotations: pulumi.StringMap{"posthog-deploy/config-hash": pulumi.String(kube.Hash(server, replicaCfg, profiles)),
					"posthog-deploy/keys-hash": keysHash},
				ServiceAccount: args.Backups.ServiceAccount,
				Pool:           args.Pool,
			}, p, child, pulumi.DependsOn(keySecrets))
			if err != nil {
				return nil, err
			}
			sets = append(sets, set)
		}
		// One budget per shard: a drain may take one replica of a shard at a time.
		if _, err := kube.NewBudget(ctx, fmt.Sprintf("clickhouse-shard-%d", s), p.Namespace, shardLabels, 1, child); err != nil {
			return nil, err
		}
	}
	svc, err := kube.Service(ctx, ServiceName, p.Namespace, labels, ports[:2], sets, child)
	if err != nil {
		return nil, err
	}
	if err := newBackupJobs(ctx, ch.Backup, t, p, child); err != nil {
		return nil, err
	}
	// Ready when every replica and the Service are. The resources themselves, not the
	// component: the SDK expands a dependency on a component into the children registered by
	// then, and children register asynchronously, so a dependent could miss some (seen: the
	// migrations without the replicas' sets, once in a few runs).
	c.Endpoint.Ready = append(sets, svc)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"host":     pulumi.String(c.Endpoint.Hosts[0]),
		"cluster":  pulumi.String(t.Cluster),
		"replicas": pulumi.Int(len(t.Replicas())),
	}); err != nil {
		return nil, err
	}
	return c, nil
}
