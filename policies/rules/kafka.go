package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

const gib = 1 << 30

func kafkaRules() []Rule {
	return []Rule{{
		ID: "PH-KF-001", Name: "kafka-replication",
		Why: "With fewer than 3 replicas or min.insync.replicas below 2, an event acknowledged to capture can be " +
			"lost with a single broker.",
		Fix:      "Set posthog-deploy:kafka.replicationFactor to 3 and .minInsyncReplicas to 2 in staging and prod.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{ConfigMap},
		Check: func(ctx Context, r Resource) []string {
			text, ok := configFile(r, "server.properties")
			if !ok || !ctx.HA() {
				return nil
			}
			p := properties(text)
			var out []string
			if n, ok := atoi(p["default.replication.factor"]); !ok || n < 3 {
				out = append(out, fmt.Sprintf("default.replication.factor is %q, below 3 in %s", p["default.replication.factor"], envName(ctx)))
			}
			if n, ok := atoi(p["min.insync.replicas"]); !ok || n < 2 {
				out = append(out, fmt.Sprintf("min.insync.replicas is %q, below 2 in %s", p["min.insync.replicas"], envName(ctx)))
			}
			if p["unclean.leader.election.enable"] == "true" {
				out = append(out, "unclean.leader.election.enable is true: a lagging replica may become leader and drop events")
			}
			return out
		},
		Pass: []Fixture{{Name: "3/2", Context: Context{Environment: "prod"}, Resources: []Resource{kafkaProps(3, 2, 512<<20)}}},
		Fail: []Fixture{{Name: "1/1 in prod", Context: Context{Environment: "prod"}, Resources: []Resource{kafkaProps(1, 1, 512<<20)}}},
	}, {
		ID: "PH-KF-002", Name: "kafka-retention-fits-volume",
		Why: "If the partitions a broker holds may retain more than its volume, the disk fills, the broker stops " +
			"and capture drops events.",
		Fix:      "Size posthog-deploy:kafka.storage for the partitions (the program derives log.retention.bytes from it), or lower kafka.partitions.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{ConfigMap, StatefulSet, Job},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			var settings map[string]string
			var volume int64
			brokers, topics := 0, 0
			var urn string
			for _, r := range rs {
				switch {
				case r.Type == ConfigMap:
					if text, ok := configFile(r, "server.properties"); ok {
						settings, urn = properties(text), r.URN
					}
				case r.Type == StatefulSet && podLabels(r)[labels.App] == labels.Kafka:
					n, _ := num(at(props(r), "spec", "replicas"))
					brokers = int(n)
					if claims := at(props(r), "spec", "volumeClaimTemplates"); claims.IsArray() && claims.AsArray().Len() > 0 {
						size, _ := str(at(claims.AsArray().Get(0), "spec", "resources", "requests", "storage"))
						volume, _ = config.Bytes(size)
					}
				case r.Type == Job:
					for _, text := range configTexts(r) {
						topics += strings.Count(text, "--topic ")
					}
				}
			}
			if settings == nil || brokers == 0 || volume == 0 || topics == 0 {
				return nil
			}
			retention, err1 := strconv.ParseInt(settings["log.retention.bytes"], 10, 64)
			segment, err2 := strconv.ParseInt(settings["log.segment.bytes"], 10, 64)
			partitions, _ := atoi(settings["num.partitions"])
			rf, _ := atoi(settings["default.replication.factor"])
			if err1 != nil || retention < 0 {
				return []Violation{{URN: urn, Message: "log.retention.bytes is unlimited: the disk, not retention, decides when to stop"}}
			}
			if err2 != nil {
				segment = gib
			}
			perBroker := (topics*partitions*rf + brokers - 1) / brokers
			if need := int64(perBroker) * (retention + segment); need > volume {
				return []Violation{{URN: urn, Message: fmt.Sprintf("%d partition replicas per broker may retain %d GiB, more than the %d GiB volume",
					perBroker, need/gib, volume/gib)}}
			}
			return nil
		},
		Pass: []Fixture{{Name: "fits", Resources: []Resource{kafkaProps(3, 2, 512<<20), kafkaSet(3, "100Gi"), topicsJob(12)}}},
		Fail: []Fixture{
			{Name: "too much", Resources: []Resource{kafkaProps(3, 2, 4*gib), kafkaSet(3, "100Gi"), topicsJob(12)}},
			{Name: "unlimited", Resources: []Resource{kafkaProps(3, 2, -1), kafkaSet(3, "100Gi"), topicsJob(12)}},
		},
	}}
}

func kafkaProps(rf, minISR int, retention int64) Resource {
	return configMap("kafka", "server.properties", fmt.Sprintf(
		"num.partitions=8\ndefault.replication.factor=%d\nmin.insync.replicas=%d\nlog.retention.bytes=%d\nlog.segment.bytes=%d\n",
		rf, minISR, retention, 256<<20))
}

func kafkaSet(brokers int, size string) Resource {
	return res(StatefulSet, "kafka", map[string]any{"spec": map[string]any{
		"replicas": brokers,
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]string{labels.App: labels.Kafka}},
			"spec":     map[string]any{"containers": []any{container("apache/kafka:3.9.0", nil)}},
		},
		"volumeClaimTemplates": []any{map[string]any{
			"spec": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": size}}}}},
	}})
}

func topicsJob(n int) Resource {
	var script []string
	for i := range n {
		script = append(script, fmt.Sprintf("kafka-topics.sh --create --topic t%d", i))
	}
	return workload(Job, "kafka-topics", 0, nil, container("apache/kafka:3.9.0",
		map[string]any{"command": []any{"bash", "-c", strings.Join(script, "\n")}}), nil)
}
