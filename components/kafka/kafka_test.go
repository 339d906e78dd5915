package kafka

import (
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config"
)

func prod() config.Kafka { return config.Defaults(config.Local, config.Prod).Kafka }

func TestRetentionLeavesHeadroomAndASegmentPerPartition(t *testing.T) {
	k := prod() // 3 brokers, RF 3, 8 partitions, 100Gi
	got, err := RetentionBytes(k)
	if err != nil {
		t.Fatal(err)
	}
	perBroker := int64(len(Topics) * k.Partitions * k.ReplicationFactor / k.Brokers)
	disk := int64(100) << 30
	if used := perBroker * (got + SegmentBytes); used > disk*3/4 || used < disk*3/4-perBroker {
		t.Errorf("retention %d: %d partitions use %d of %d bytes, want just under 75%%", got, perBroker, used, disk)
	}
	k.Storage = "200Gi"
	if bigger, _ := RetentionBytes(k); bigger <= got {
		t.Errorf("a bigger volume must retain more: %d <= %d", bigger, got)
	}
}

func TestRetentionRefusesATooSmallDisk(t *testing.T) {
	k := prod()
	k.Storage, k.Partitions = "10Gi", 64
	_, err := RetentionBytes(k)
	if err == nil || !strings.Contains(err.Error(), `posthog-deploy:kafka.storage: invalid value "10Gi"`) {
		t.Errorf("error = %v", err)
	}
}

func TestTopicsScriptCreatesEveryTopicOnce(t *testing.T) {
	s := TopicsScript(prod(), "kafka-0:9092", 1<<30)
	for _, topic := range Topics {
		if strings.Count(s, "--topic "+topic+" ") != 1 {
			t.Errorf("topic %s not created exactly once", topic)
		}
	}
	if strings.Count(s, "--if-not-exists") != len(Topics) || !strings.Contains(s, "--replication-factor 3 --config retention.bytes=1073741824 --config retention.ms=259200000") {
		t.Errorf("script is not idempotent or lacks replication and retention:\n%s", s)
	}
}
