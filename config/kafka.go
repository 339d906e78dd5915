package config

import "fmt"

// Kafka's retention is derived from its volume, here, so that a volume too small for the
// partitions it must hold fails with the config, before any resource exists.
const (
	// KafkaSegmentBytes is the size of a log segment: a partition can hold one active segment
	// beyond its retention, which the arithmetic reserves.
	KafkaSegmentBytes = 256 << 20
	// KafkaHeadroom is the share of the volume never planned for: compaction, indexes, the
	// filesystem's own reserve.
	KafkaHeadroom = 0.25
)

// retentionBytes is the retention.bytes of every partition: what the volume can hold, less the
// headroom, shared by the partition replicas one broker carries (the release's topics), less one
// active segment each. Size-based retention then deletes old segments before the disk fills.
func (k Kafka) retentionBytes(topics int) (int64, string) {
	disk, err := Bytes(k.Storage)
	if err != nil || k.Brokers < 1 {
		return 0, ""
	}
	replicasPerBroker := (topics*k.Partitions*k.ReplicationFactor + k.Brokers - 1) / k.Brokers
	usable := int64(float64(disk) * (1 - KafkaHeadroom))
	per := usable/int64(max(replicasPerBroker, 1)) - KafkaSegmentBytes
	if per < KafkaSegmentBytes {
		return 0, fmt.Sprintf("too small for %d partition replicas per broker (%d topics × %d partitions × replication %d "+
			"over %d brokers); each needs at least %d MiB", replicasPerBroker, topics, k.Partitions, k.ReplicationFactor,
			k.Brokers, 2*KafkaSegmentBytes>>20)
	}
	return per, ""
}
