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
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// Name is the ensemble's StatefulSet and headless Service, which clients reach the members
// through; the ports are ZooKeeper's standard ones.
const (
	Name         = labels.ZooKeeper
	ClientPort   = 2181
	QuorumPort   = 2888
	ElectionPort = 3888
)

// Paths of the official image (31z4/zookeeper-docker): its configuration directory, which also
// holds the image's logback.xml, and its data directory.
const (
	ConfDir = "/conf"
	DataDir = "/data"
)

// FourLetterWords are the only admin commands served: what probes and monitoring need.
var FourLetterWords = []string{"ruok", "srvr", "mntr"}

// Ensemble is the deployed ensemble.
type Ensemble struct {
	pulumi.ResourceState
	// Endpoint is the members' stable host names and client port, for connection strings.
	Endpoint kube.Endpoint
}

// Args is the ensemble's config and where it runs.
type Args struct {
	Config config.ZooKeeper
	// Metrics turns on ZooKeeper's Prometheus metrics provider on MetricsPort.
	Metrics   bool
	Placement kube.Placement
}

// MetricsPort is the Prometheus metrics provider's (httpPort, default 7000 in 3.8.6
// PrometheusMetricsProvider.java); the official image's lib/ carries the provider's jars.
const MetricsPort = 7000

// MetricsConfig are the zoo.cfg lines that serve Prometheus metrics on MetricsPort. Debian's
// 3.8.0, which the tests run, lacks the provider (ZooKeeper would not start): Config leaves them out.
func MetricsConfig() string {
	return "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n" +
		fmt.Sprintf("metricsProvider.httpPort=%d\n", MetricsPort) + "metricsProvider.exportJvmInfo=true\n"
}

// Hosts returns the members' stable DNS names in namespace ns.
func Hosts(replicas int, ns string) []string { return kube.PodHosts(Name, replicas, ns) }

// Member is one server of the ensemble as its peers reach it.
type Member struct {
	Host                                 string
	QuorumPort, ElectionPort, ClientPort int
}

// Members are the ensemble's servers in namespace ns, on the standard ports.
func Members(replicas int, ns string) []Member {
	var out []Member
	for _, h := range Hosts(replicas, ns) {
		out = append(out, Member{Host: h, QuorumPort: QuorumPort, ElectionPort: ElectionPort, ClientPort: ClientPort})
	}
	return out
}

// Config renders zoo.cfg for the server of members whose data lives in dataDir and that serves
// clients on clientPort. In the cluster every member reads the same file (Members, DataDir,
// ClientPort); the tests run the same rendering as three servers on one host.
func Config(zk config.ZooKeeper, members []Member, dataDir string, clientPort int) string {
	lines := []string{
		"dataDir=" + dataDir,
		fmt.Sprintf("clientPort=%d", clientPort),
		"tickTime=2000",
		"initLimit=10",
		"syncLimit=5",
		"maxClientCnxns=120",
		fmt.Sprintf("autopurge.purgeInterval=%d", zk.PurgeIntervalHours),
		fmt.Sprintf("autopurge.snapRetainCount=%d", zk.SnapRetainCount),
		"4lw.commands.whitelist=" + strings.Join(FourLetterWords, ","),
		"admin.enableServer=false",
		"quorumListenOnAllIPs=true",
		fmt.Sprintf("standaloneEnabled=%t", len(members) == 1),
	}
	for i, m := range members {
		lines = append(lines, fmt.Sprintf("server.%d=%s:%d:%d;%d", i+1, m.Host, m.QuorumPort, m.ElectionPort, m.ClientPort))
	}
	return strings.Join(lines, "\n") + "\n"
}

// fourLetterWord asks the server on port a four-letter word and passes its answer to check.
// bash's /dev/tcp, not `zkServer.sh status`: that starts a second JVM with the server's heap
// flags in the server's memory limit.
func fourLetterWord(port int, word, check string) string {
	return fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && printf %s >&3 && %s <&3", port, word, check)
}

// ReadyScript succeeds when the server on port serves requests as a member of a quorum (or
// standalone): `srvr` names its mode only then.
func ReadyScript(port int) string {
	return fourLetterWord(port, "srvr", "grep -qE '^Mode: (leader|follower|standalone)'")
}

// LiveScript succeeds when the server on port answers at all.
func LiveScript(port int) string { return fourLetterWord(port, "ruok", "grep -q imok") }

// StartScript writes the member id (the pod's ordinal + 1) where ZooKeeper reads it and starts
// the server in the foreground with zoo.cfg.
func StartScript() string {
	return fmt.Sprintf(`echo $(( ${HOSTNAME##*-} + 1 )) > %s/myid && exec zkServer.sh start-foreground %s/zoo.cfg`, DataDir, ConfDir)
}

// New deploys the ensemble.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Ensemble, error) {
	zk, p, ns := args.Config, args.Placement, args.Placement.NamespaceName
	e := &Ensemble{Endpoint: kube.Endpoint{Hosts: Hosts(zk.Replicas, ns), Port: ClientPort}}
	if err := ctx.RegisterComponentResource("posthog-deploy:data:ZooKeeper", name, e, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(e)
	selector := kube.Labels(Name, nil)
	zooCfg := Config(zk, Members(zk.Replicas, ns), DataDir, ClientPort)
	ports := []kube.Port{{Name: "follower", Port: QuorumPort}, {Name: "election", Port: ElectionPort}}
	if args.Metrics {
		zooCfg += MetricsConfig()
		ports = append(ports, kube.Port{Name: kube.MetricsPort, Port: MetricsPort})
	}
	if _, err := kube.NewConfigMap(ctx, Name, p.Namespace, selector, pulumi.StringMap{"zoo.cfg": pulumi.String(zooCfg)}, child); err != nil {
		return nil, err
	}
	clientPorts := []kube.Port{{Name: "client", Port: ClientPort}}
	set, err := kube.NewStateful(ctx, kube.Stateful{
		Name:     Name,
		Replicas: zk.Replicas,
		Selector: selector,
		Container: kube.Container{
			Image:   zk.Image,
			Command: []string{"bash", "-ec", StartScript()},
			// The heap of the server only (zkServer.sh prepends SERVER_JVMFLAGS for the server).
			Env: corev1.EnvVarArray{
				corev1.EnvVarArgs{Name: pulumi.String("SERVER_JVMFLAGS"), Value: pulumi.String("-Xms512m -Xmx512m")},
			},
			Ports:     append(clientPorts, ports...),
			Resources: kube.Resources{CPU: "250m", Memory: "1Gi"},
			Readiness: kube.ExecProbe(10, "bash", "-c", ReadyScript(ClientPort)),
			Liveness:  kube.ExecProbe(15, "bash", "-c", LiveScript(ClientPort)),
			// Only zoo.cfg: the rest of the image's configuration directory (logback.xml) stays.
			Mounts: []kube.Mount{{Volume: "config", Path: ConfDir, File: "zoo.cfg"}},
		},
		DataPath:       DataDir,
		Storage:        zk.Storage,
		Volumes:        []kube.Volume{{Name: "config", ConfigMaps: []string{Name}}},
		Budget:         1,
		PodAnnotations: pulumi.StringMap{"posthog-deploy/config-hash": pulumi.String(kube.Hash(zooCfg))},
	}, p, child)
	if err != nil {
		return nil, err
	}
	e.Endpoint.Ready = []pulumi.Resource{set}
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{"nodes": pulumi.ToStringArray(e.Endpoint.Hosts)}); err != nil {
		return nil, err
	}
	return e, nil
}
