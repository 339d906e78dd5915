package config

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config/upstream"
)

func TestImageReferences(t *testing.T) {
	for _, tc := range []struct{ ref, repo, version string }{
		{"clickhouse/clickhouse-server:22.8.11.15", "clickhouse/clickhouse-server", "22.8.11.15"},
		{"redis:6.2.24-alpine", "redis", "6.2.24"},
		{"posthog/posthog:release-1.43.0", "posthog/posthog", "1.43.0"},
		{"edoburu/pgbouncer:v1.25.2-p0", "edoburu/pgbouncer", "1.25.2"},
		{"registry:5000/zookeeper:3.8.6@sha256:abc", "registry:5000/zookeeper", "3.8.6"},
		{"posthog/posthog@sha256:abc", "posthog/posthog", ""},
		{"registry:5000/kafka", "registry:5000/kafka", ""},
	} {
		if got := Repository(tc.ref); got != tc.repo {
			t.Errorf("Repository(%s) = %s, want %s", tc.ref, got, tc.repo)
		}
		if got := VersionOf(tc.ref); got != tc.version {
			t.Errorf("VersionOf(%s) = %q, want %q", tc.ref, got, tc.version)
		}
	}
}

func TestInRange(t *testing.T) {
	for _, tc := range []struct {
		version, bounds string
		want            bool
	}{
		{"14.1", ">=11.0.0 <=14.1.0", true},
		{"14.10", ">=11.0.0 <=14.1.0", false}, // semver, as PostHog compares: 14.10 > 14.1
		{"13.23", ">=11.0.0 <=14.1.0", true},
		{"22.8.11.15", ">=22.8.0 <22.9.0", true},
		{"22.9", ">=22.8.0 <22.9.0", false},
		{"6.3", ">=5.0.0 <=6.3.0", true},
		{"", ">=1", false},
		{"1.0", "", false},
	} {
		if got, err := InRange(tc.version, tc.bounds); err != nil || got != tc.want {
			t.Errorf("InRange(%q, %q) = %v, %v; want %v", tc.version, tc.bounds, got, err, tc.want)
		}
	}
	if _, err := InRange("1.0", "~1.0"); err == nil {
		t.Error("a bound without a comparison must be an error")
	}
}

// bounds is a range of the forms the table and PostHog use: ">=a[,| ]<b" or "<=b".
type bounds struct {
	lower, upper         string
	lowerIncl, upperIncl bool
}

func parseBounds(t *testing.T, r string) bounds {
	t.Helper()
	var b bounds
	for _, f := range strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == ' ' }) {
		switch {
		case strings.HasPrefix(f, ">="):
			b.lower, b.lowerIncl = f[2:], true
		case strings.HasPrefix(f, "<="):
			b.upper, b.upperIncl = f[2:], true
		case strings.HasPrefix(f, "<"):
			b.upper = f[1:]
		default:
			t.Fatalf("range %q: unexpected bound %q", r, f)
		}
	}
	return b
}

// within says whether every version of inner is a version of outer.
func within(inner, outer bounds) bool {
	lo := compareVersions(inner.lower, outer.lower)
	hi := compareVersions(inner.upper, outer.upper)
	return (lo > 0 || lo == 0 && (outer.lowerIncl || !inner.lowerIncl)) &&
		(hi < 0 || hi == 0 && (outer.upperIncl || !inner.upperIncl))
}

// TestReleaseSatisfiesPostHogsServiceVersions holds the table to what PostHog checks when it
// starts: every pinned version and every version a stack may pin instead is one it accepts, and
// the check is skipped exactly where a cloud can only run a version it refuses.
func TestReleaseSatisfiesPostHogsServiceVersions(t *testing.T) {
	r := Current()
	facts, err := upstream.Read(fmt.Sprintf("testdata/posthog-%s-service-versions.tsv", r.Version))
	if err != nil {
		t.Fatal(err)
	}
	if facts.Meta["tag"] != r.Version {
		t.Fatalf("%s is read at %s, the table pins PostHog %s", facts.Path, facts.Meta["tag"], r.Version)
	}
	ranges := map[string]string{}
	for _, row := range facts.Rows {
		ranges[row[0]] = strings.ReplaceAll(row[1], ",", " ")
	}
	for service, pin := range map[string]Pin{"postgresql": r.Postgres, "redis": r.Redis, "clickhouse": r.ClickHouse} {
		accepted, ok := ranges[service]
		if !ok {
			t.Fatalf("%s names no range for %s", facts.Path, service)
		}
		if in, _ := InRange(VersionOf(pin.Image.Ref), accepted); !in {
			t.Errorf("%s: the pinned %s is outside PostHog's %s: every PostHog process would exit", service, pin.Image.Ref, accepted)
		}
		if !within(parseBounds(t, pin.Accepts), parseBounds(t, accepted)) {
			t.Errorf("%s: the table accepts %s, beyond PostHog's %s", service, pin.Accepts, accepted)
		}
	}
	// A cloud runs the newest minor of a major; PostHog's range decides whether the check can stay.
	refused := false
	for _, major := range r.ManagedPostgres.Versions {
		newest := major + ".99"
		in, _ := InRange(newest, ranges["postgresql"])
		refused = refused || !in
	}
	if refused != (r.ManagedPostgres.SkipVersionCheck != "") {
		t.Errorf("managed PostgreSQL %v: PostHog refuses its newest minor = %v, but the check is skipped = %v",
			r.ManagedPostgres.Versions, refused, r.ManagedPostgres.SkipVersionCheck != "")
	}
}

// TestReleaseImagesMatchTheirFacts holds each pinned image to its build file: the version the
// facts were read at, and the user the platform runs it as.
func TestReleaseImagesMatchTheirFacts(t *testing.T) {
	facts, err := upstream.Read("testdata/images.tsv")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, row := range facts.Rows {
		rows[row[0]] = row
	}
	r := Current()
	for name, pin := range map[string]Pin{"clickhouse": r.ClickHouse, "backup": r.Backup, "kafka": r.Kafka,
		"zookeeper": r.ZooKeeper, "redis": r.Redis, "postgres": r.Postgres, "pgbouncer": r.PgBouncer,
		"redis exporter": r.RedisExporter, "pgbouncer exporter": r.PgBouncerExporter, "postgres exporter": r.PostgresExporter,
		"kafka exporter": r.KafkaExporter, "pushgateway": r.Pushgateway, "lister": r.Lister} {
		row, ok := rows[Repository(pin.Image.Ref)]
		if !ok {
			t.Errorf("%s: no facts for %s in %s", name, Repository(pin.Image.Ref), facts.Path)
			continue
		}
		if VersionOf(pin.Image.Ref) != row[1] {
			t.Errorf("%s: the table pins %s, the facts were read at %s: read the image's build file at the new tag",
				name, pin.Image.Ref, row[1])
		}
		uid, _ := strconv.ParseInt(row[2], 10, 64)
		gid, _ := strconv.ParseInt(row[3], 10, 64)
		if pin.Image.User != (User{uid, gid}) {
			t.Errorf("%s: runs as %+v, the image's user is %d:%d", name, pin.Image.User, uid, gid)
		}
	}
}

func TestOverridesTakeTheRowsUser(t *testing.T) {
	c, err := Parse(valid("dev", map[string]string{
		"zookeeper":  `{"image": "zookeeper:3.8.4"}`,
		"clickhouse": `{"image": "clickhouse/clickhouse-server:22.8.21.38"}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ZooKeeper.Image.Ref != "zookeeper:3.8.4" || c.ZooKeeper.Image.User != Current().ZooKeeper.Image.User {
		t.Errorf("zookeeper image = %+v", c.ZooKeeper.Image)
	}
	if c.ClickHouse.Image.User.UID != 101 {
		t.Errorf("clickhouse image = %+v: an override must run as the image's user", c.ClickHouse.Image)
	}
}

func TestSkipServiceVersionCheckOnlyOnClouds(t *testing.T) {
	local, err := Parse(valid("dev", nil))
	if err != nil {
		t.Fatal(err)
	}
	if reason := local.SkipServiceVersionCheck(); reason != "" {
		t.Errorf("local stack skips PostHog's version check: %s", reason)
	}
	aws, err := Parse(validCloud("aws", "dev", nil))
	if err != nil {
		t.Fatal(err)
	}
	if aws.SkipServiceVersionCheck() == "" {
		t.Error("a cloud's managed PostgreSQL 14.x is refused by PostHog 1.43.0's check: it must be skipped there")
	}
}
