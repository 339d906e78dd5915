package clickhouse

import (
	"fmt"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
)

// Replica is one ClickHouse server: replica Index of shard Shard.
type Replica struct {
	Shard, Index int
	// Name is chi-<cluster>-<shard>-<replica>: its StatefulSet, Service and macro.
	Name string
	// Host is the replica's stable DNS name.
	Host string
}

// Topology is a cluster's shards, each a list of replicas. It is plain data: names and hosts
// are derived here once and used by the config, the workloads and the tests alike.
type Topology struct {
	Cluster   string
	Namespace string
	Shards    [][]Replica
}

// NewTopology lays out shards × replicas servers of cluster in namespace ns.
func NewTopology(cluster string, shards, replicas int, ns string) Topology {
	t := Topology{Cluster: cluster, Namespace: ns, Shards: make([][]Replica, shards)}
	for s := range shards {
		for r := range replicas {
			name := fmt.Sprintf("chi-%s-%d-%d", cluster, s, r)
			t.Shards[s] = append(t.Shards[s], Replica{
				Shard: s, Index: r, Name: name,
				Host: kube.ServiceHost(name, ns),
			})
		}
	}
	return t
}

// Replicas lists every server, shard by shard.
func (t Topology) Replicas() []Replica {
	var all []Replica
	for _, shard := range t.Shards {
		all = append(all, shard...)
	}
	return all
}
