// Package zookeeper deploys the ZooKeeper ensemble that ClickHouse replication and Kafka
// coordinate through, with autopurge always on: without it snapshots and transaction logs
// fill the disk until the ensemble stops.
package zookeeper

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Name is the ensemble's StatefulSet and headless Service; Client is the Service clients use.
const (
	Name       = "zookeeper"
	ClientPort = 2181
)

// FourLetterWords are the only admin commands served: what probes and monitoring need.
var FourLetterWords = []string{"ruok", "srvr", "mntr"}

// Ensemble is the deployed ensemble.
type Ensemble struct {
	pulumi.ResourceState
	// Nodes are the members' stable host names, for clients' connection strings.
	Nodes []string
}

// Addresses are the members' host:port client addresses.
func (e *Ensemble) Addresses() []string {
	out := make([]string, len(e.Nodes))
	for i, h := range e.Nodes {
		out[i] = fmt.Sprintf("%s:%d", h, ClientPort)
	}
	return out
}

// Hosts returns the members' stable DNS names in namespace ns.
func Hosts(replicas int, ns string) []string {
	hosts := make([]string, replicas)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", Name, i, Name, ns)
	}
	return hosts
}

// Config renders zoo.cfg for an ensemble of zk.Replicas members in namespace ns.
func Config(zk config.ZooKeeper, ns string) string {
	lines := []string{
		"dataDir=/data",
		fmt.Sprintf("clientPort=%d", ClientPort),
		"tickTime=2000",
		"initLimit=10",
		"syncLimit=5",
		"maxClientCnxns=120",
		fmt.Sprintf("autopurge.purgeInterval=%d", zk.PurgeIntervalHours),
		fmt.Sprintf("autopurge.snapRetainCount=%d", zk.SnapRetainCount),
		"4lw.commands.whitelist=" + strings.Join(FourLetterWords, ","),
		"admin.enableServer=false",
		"quorumListenOnAllIPs=true",
		fmt.Sprintf("standaloneEnabled=%t", zk.Replicas == 1),
	}
	for i, h := range Hosts(zk.Replicas, ns) {
		lines = append(lines, fmt.Sprintf("server.%d=%s:2888:3888;%d", i+1, h, ClientPort))
	}
	return strings.Join(lines, "\n") + "\n"
}

// New deploys the ensemble into the placement's namespace (named ns).
func New(ctx *pulumi.Context, zk config.ZooKeeper, ns string, p kube.Placement, opts ...pulumi.ResourceOption) (*Ensemble, error) {
	e := &Ensemble{Nodes: Hosts(zk.Replicas, ns)}
	if err := ctx.RegisterComponentResource("posthog-deploy:data:ZooKeeper", Name, e, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(e)
	selector := kube.Labels(Name, nil)
	zooCfg := Config(zk, ns)
	if _, err := kube.NewConfigMap(ctx, Name, p.Namespace, selector, pulumi.StringMap{"zoo.cfg": pulumi.String(zooCfg)}, child); err != nil {
		return nil, err
	}
	clientPorts := []kube.Port{{Name: "client", Port: ClientPort}}
	if _, err := kube.NewStateful(ctx, kube.Stateful{
		Name:     Name,
		Replicas: zk.Replicas,
		Selector: selector,
		Container: kube.Container{
			Image: zk.Image,
			// The member id is the pod's ordinal + 1, written where ZooKeeper expects it.
			Command: []string{"bash", "-ec", `echo $(( ${HOSTNAME##*-} + 1 )) > /data/myid && exec zkServer.sh start-foreground /conf/zoo.cfg`},
			Env: corev1.EnvVarArray{
				corev1.EnvVarArgs{Name: pulumi.String("ZOOCFGDIR"), Value: pulumi.String("/conf")},
				corev1.EnvVarArgs{Name: pulumi.String("JVMFLAGS"), Value: pulumi.String("-Xms512m -Xmx512m")},
			},
			Ports:     append(clientPorts, kube.Port{Name: "follower", Port: 2888}, kube.Port{Name: "election", Port: 3888}),
			Resources: kube.Resources{CPU: "250m", Memory: "1Gi"},
			Readiness: kube.ExecProbe(10, "zkServer.sh", "status", "/conf/zoo.cfg"),
			Liveness:  kube.TCPProbe("client", 15),
		},
		DataPath:       "/data",
		Storage:        zk.Storage,
		ConfigVolumes:  []kube.ConfigVolume{{Name: "config", Path: "/conf", ConfigMaps: []string{Name}}},
		Budget:         1,
		PodAnnotations: pulumi.StringMap{"posthog-deploy/config-hash": pulumi.String(kube.Hash(zooCfg))},
	}, p, child); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{"nodes": pulumi.ToStringArray(e.Nodes)}); err != nil {
		return nil, err
	}
	return e, nil
}
