package kafka

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/upstream"
)

// prod is the prod defaults with the retention validation derives from the volume.
func prod() config.Kafka {
	k := config.Defaults(config.Local, config.Prod).Kafka
	k.RetentionBytes = 1 << 30
	return k
}

var topics = config.Current().Topics

// TestTopicsAreThePinnedReleases: PostHog never creates a topic and the brokers do not
// auto-create, so a missing topic stops the plugin server at start: the release's list must be
// exactly the topics its source names, and the Job must create each of them.
func TestTopicsAreThePinnedReleases(t *testing.T) {
	r := config.Current()
	f, err := upstream.Read(fmt.Sprintf("testdata/posthog-%s-topics.tsv", r.Version))
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta["tag"] != r.Version {
		t.Fatalf("%s is read at %s, the release is %s", f.Path, f.Meta["tag"], r.Version)
	}
	want := f.Column(0)
	slices.Sort(want)
	got := slices.Sorted(slices.Values(r.Topics))
	if !slices.Equal(got, want) {
		t.Errorf("the release's topics differ from PostHog %s's:\n got %v\nwant %v", r.Version, got, want)
	}
	script := TopicsScript(prod(), r.Topics, "kafka-0:9092")
	created := regexp.MustCompile(`--create --if-not-exists --topic (\S+) `).FindAllStringSubmatch(script, -1)
	var names []string
	for _, m := range created {
		names = append(names, m[1])
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("the Job creates %v, want exactly %v", names, want)
	}
}

func TestTopicsScriptIsIdempotentAndUpdatesRetention(t *testing.T) {
	s := TopicsScript(prod(), topics, "kafka-0:9092")
	for _, topic := range topics {
		if !strings.Contains(s, "--entity-name "+topic+" --add-config retention.bytes=1073741824,retention.ms=259200000\n") {
			t.Errorf("topic %s: an existing topic keeps its old retention", topic)
		}
	}
	if strings.Count(s, "--if-not-exists") != len(topics) || !strings.Contains(s, "--replication-factor 3 --config retention.bytes=1073741824 --config retention.ms=259200000") {
		t.Errorf("script is not idempotent or lacks replication and retention:\n%s", s)
	}
	if !strings.HasPrefix(s, "set -e\n") || strings.Contains(s, " kafka-topics.sh") {
		t.Errorf("the image's scripts are not on PATH; call them by %s:\n%s", Bin, s)
	}
}

func TestLogsGoToTheConsoleOnly(t *testing.T) {
	if !strings.Contains(Log4j, "log4j.rootLogger=INFO, stdout\n") || strings.Contains(Log4j, "FileAppender") {
		t.Errorf("log4j.properties must log to the console only:\n%s", Log4j)
	}
}
