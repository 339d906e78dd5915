// Package kafka deploys the Kafka brokers PostHog's ingestion flows through, coordinated by
// the ZooKeeper ensemble under their own chroot, with retention derived from the volume size
// so that a full disk can never stop the brokers and drop events, and creates PostHog's topics.
package kafka

import (
	"fmt"
	"sort"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// Name is the brokers' StatefulSet and headless Service; Port their client listener.
const (
	Name = labels.Kafka
	// TopicsApp labels the pods of the Job that creates the topics.
	TopicsApp = "kafka-topics"
	Port      = 9092
	// DataPath is where each broker's volume is mounted; its logs live in LogDirs, the
	// directory the apache/kafka image declares as its volume.
	DataPath = "/var/lib/kafka"
	LogDirs  = DataPath + "/data"
	// ConfDir holds server.properties and the console-only log4j.properties.
	ConfDir = "/conf"
	// Bin is where the apache/kafka image installs Kafka's scripts (not on PATH).
	Bin = "/opt/kafka/bin"
	// Chroot is Kafka's path in the shared ZooKeeper ensemble.
	Chroot = "/kafka"
)

// Hosts returns the brokers' stable host names in namespace ns.
func Hosts(brokers int, ns string) []string { return kube.PodHosts(Name, brokers, ns) }

// ServerProperties renders server.properties, shared by every broker (each adds its id and
// advertised listener at start). zooKeeper lists the ensemble's host:port addresses.
func ServerProperties(k config.Kafka, zooKeeper []string) string {
	zk := strings.Join(zooKeeper, ",") + Chroot
	minISR := min(k.MinInsyncReplicas, k.ReplicationFactor)
	props := map[string]string{
		"zookeeper.connect":                        zk,
		"listeners":                                fmt.Sprintf("PLAINTEXT://0.0.0.0:%d", Port),
		"log.dirs":                                 LogDirs,
		"num.partitions":                           fmt.Sprint(k.Partitions),
		"default.replication.factor":               fmt.Sprint(k.ReplicationFactor),
		"min.insync.replicas":                      fmt.Sprint(minISR),
		"offsets.topic.replication.factor":         fmt.Sprint(k.ReplicationFactor),
		"transaction.state.log.replication.factor": fmt.Sprint(k.ReplicationFactor),
		"transaction.state.log.min.isr":            fmt.Sprint(minISR),
		"unclean.leader.election.enable":           "false",
		"auto.create.topics.enable":                "false",
		"log.retention.hours":                      fmt.Sprint(k.RetentionHours),
		"log.retention.bytes":                      fmt.Sprint(k.RetentionBytes),
		"log.segment.bytes":                        fmt.Sprint(config.KafkaSegmentBytes),
		"log.retention.check.interval.ms":          "60000",
		"message.max.bytes":                        fmt.Sprint(20 << 20),
		"replica.fetch.max.bytes":                  fmt.Sprint(20 << 20),
	}
	keys := make([]string, 0, len(props))
	for key := range props {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, key := range keys {
		fmt.Fprintf(&b, "%s=%s\n", key, props[key])
	}
	return b.String()
}

// Log4j sends the broker's logs to the console only: the image's default configuration also
// writes rolling files inside the container, which nothing rotates away.
const Log4j = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.state.change.logger=INFO
`

// GCLog sends the JVM's garbage-collection log to the console, one line per collection.
const GCLog = "-Xlog:gc:stdout:time,uptime"

// TopicsScript creates every topic that does not exist yet, with its partitions, replication
// and retention, and applies the retention to topics that exist already, so that a changed
// volume or time limit reaches them too. It is safe to run again.
func TopicsScript(k config.Kafka, topics []string, bootstrap string) string {
	retention := fmt.Sprintf("retention.bytes=%d,retention.ms=%d", k.RetentionBytes, int64(k.RetentionHours)*3600*1000)
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, t := range topics {
		fmt.Fprintf(&b, "%s/kafka-topics.sh --bootstrap-server %s --create --if-not-exists --topic %s "+
			"--partitions %d --replication-factor %d --config %s\n",
			Bin, bootstrap, t, k.Partitions, k.ReplicationFactor, strings.ReplaceAll(retention, ",", " --config "))
		fmt.Fprintf(&b, "%s/kafka-configs.sh --bootstrap-server %s --alter --entity-type topics --entity-name %s "+
			"--add-config %s\n", Bin, bootstrap, t, retention)
	}
	return b.String()
}

// Cluster is the deployed brokers.
type Cluster struct {
	pulumi.ResourceState
	// Endpoint is the brokers' stable host names and port; it is ready once the topics exist.
	Endpoint kube.Endpoint
}

// Args is Kafka's config, the topics it serves, and the ensemble it coordinates through.
type Args struct {
	Config    config.Kafka
	Topics    []string
	ZooKeeper kube.Endpoint
	// Exporter, when set, runs kafka_exporter: partitions and consumer-group lag.
	Exporter  *config.Image
	Placement kube.Placement
}

// ExporterApp is kafka_exporter's Deployment; ExporterPort its metrics port (:9308).
const (
	ExporterApp  = "kafka-exporter"
	ExporterPort = 9308
)

// servers are kafka_exporter's --kafka.server flags, one per broker.
func servers(addresses []string) []string {
	var out []string
	for _, a := range addresses {
		out = append(out, "--kafka.server="+a)
	}
	return out
}

// New deploys the brokers and the Job that creates the topics, with the retention config
// derived from the volume, and kafka_exporter when asked.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	k, p, ns := args.Config, args.Placement, args.Placement.NamespaceName
	c := &Cluster{Endpoint: kube.Endpoint{Hosts: Hosts(k.Brokers, ns), Port: Port}}
	// The brokers start once the ensemble they register in exists.
	opts = append(opts, pulumi.DependsOn(args.ZooKeeper.Ready))
	if err := ctx.RegisterComponentResource("posthog-deploy:data:Kafka", name, c, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(c)
	selector := kube.Labels(Name, nil)
	props := ServerProperties(k, args.ZooKeeper.Addresses())
	if _, err := kube.NewConfigMap(ctx, Name, p.Namespace, selector, pulumi.StringMap{
		"server.properties": pulumi.String(props), "log4j.properties": pulumi.String(Log4j),
	}, child); err != nil {
		return nil, err
	}
	// Each broker's id is its ordinal; it advertises its own stable name.
	start := fmt.Sprintf(`id=${HOSTNAME##*-}; exec %s/kafka-server-start.sh %s/server.properties `+
		`--override broker.id=$id --override advertised.listeners=PLAINTEXT://$HOSTNAME.%s.%s.svc.cluster.local:%d`,
		Bin, ConfDir, Name, ns, Port)
	set, err := kube.NewStateful(ctx, kube.Stateful{
		Name:     Name,
		Replicas: k.Brokers,
		Selector: selector,
		Container: kube.Container{
			Image:   k.Image,
			Command: []string{"bash", "-ec", start},
			Env: corev1.EnvVarArray{
				corev1.EnvVarArgs{Name: pulumi.String("KAFKA_HEAP_OPTS"), Value: pulumi.String("-Xms1g -Xmx1g")},
				corev1.EnvVarArgs{Name: pulumi.String("KAFKA_LOG4J_OPTS"), Value: pulumi.String("-Dlog4j.configuration=file:" + ConfDir + "/log4j.properties")},
				// kafka-server-start.sh asks for GC logs (-loggc), which kafka-run-class.sh writes to
				// rolling files (ten of 100 MB) unless it is given GC options: these print to the console.
				corev1.EnvVarArgs{Name: pulumi.String("KAFKA_GC_LOG_OPTS"), Value: pulumi.String(GCLog)},
				// kafka-run-class.sh creates its log directory: /tmp, not the image's /opt/kafka.
				corev1.EnvVarArgs{Name: pulumi.String("LOG_DIR"), Value: pulumi.String("/tmp/kafka-logs")},
			},
			Ports:     []kube.Port{{Name: "kafka", Port: Port}},
			Resources: kube.Resources{CPU: "500m", Memory: "2Gi"},
			Readiness: kube.TCPProbe("kafka", 10),
			Liveness:  kube.TCPProbe("kafka", 20),
			Mounts:    []kube.Mount{{Volume: "config", Path: ConfDir}},
		},
		DataPath:       DataPath,
		Storage:        k.Storage,
		Volumes:        []kube.Volume{{Name: "config", ConfigMaps: []string{Name}}},
		Budget:         1,
		PodAnnotations: pulumi.StringMap{"posthog-deploy/config-hash": pulumi.String(kube.Hash(props, Log4j))},
	}, p, child)
	if err != nil {
		return nil, err
	}
	script := TopicsScript(k, args.Topics, strings.Join(c.Endpoint.Addresses(), ","))
	topics, err := kube.NewJob(ctx, "kafka-topics-"+kube.Hash(script)[:8], kube.Job{
		Selector: kube.Labels(TopicsApp, nil),
		Container: kube.Container{
			Image:     k.Image,
			Command:   []string{"bash", "-ec", script},
			Resources: kube.Resources{CPU: "100m", Memory: "512Mi"},
		},
	}, p, child, pulumi.DependsOn([]pulumi.Resource{set}))
	if err != nil {
		return nil, err
	}
	if args.Exporter != nil {
		// kafka_exporter (v1.9.0) reads partitions and consumer groups from the brokers; it exits
		// when none answers at its start, so it follows the topics.
		if _, err := kube.NewStateless(ctx, kube.Stateless{
			Name: ExporterApp, Min: 1, Max: 1, Selector: kube.Labels(ExporterApp, nil),
			Container: kube.Exporter(*args.Exporter, ExporterPort, nil,
				append(servers(c.Endpoint.Addresses()), "--kafka.version="+config.VersionOf(k.Image.Ref))...),
		}, p, child, pulumi.DependsOn([]pulumi.Resource{topics})); err != nil {
			return nil, err
		}
	}
	c.Endpoint.Ready = []pulumi.Resource{topics}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"hosts": pulumi.ToStringArray(c.Endpoint.Addresses())}); err != nil {
		return nil, err
	}
	return c, nil
}
