package config

import (
	"strings"
	"testing"
)

func TestKafkaRetentionLeavesHeadroomAndASegmentPerPartition(t *testing.T) {
	c, err := Parse(valid("prod", nil)) // 3 brokers, RF 3, 8 partitions, 100Gi
	if err != nil {
		t.Fatal(err)
	}
	k, topics := c.Kafka, len(Current().Topics)
	perBroker := int64(topics * k.Partitions * k.ReplicationFactor / k.Brokers)
	disk := int64(100) << 30
	if used := perBroker * (k.RetentionBytes + KafkaSegmentBytes); used > disk*3/4 || used < disk*3/4-perBroker {
		t.Errorf("retention %d: %d partitions use %d of %d bytes, want just under 75%%", k.RetentionBytes, perBroker, used, disk)
	}
	bigger, err := Parse(valid("prod", map[string]string{"kafka": `{"storage": "200Gi"}`}))
	if err != nil {
		t.Fatal(err)
	}
	if bigger.Kafka.RetentionBytes <= k.RetentionBytes {
		t.Errorf("a bigger volume must retain more: %d <= %d", bigger.Kafka.RetentionBytes, k.RetentionBytes)
	}
}

func TestKafkaRetentionRefusesATooSmallDisk(t *testing.T) {
	_, err := Parse(valid("prod", map[string]string{"kafka": `{"storage": "10Gi", "partitions": 64}`}))
	if err == nil || !strings.Contains(err.Error(), `posthog-deploy:kafka.storage: invalid value "10Gi": too small for`) {
		t.Errorf("error = %v", err)
	}
}
