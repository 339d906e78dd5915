package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Release is one PostHog release and, for it, the version of every service the platform runs
// beside it: what upstream tested (PostHog's Helm chart and docker-compose at that release) or
// accepts (the service-version ranges PostHog itself checks when it starts). Defaults come from
// it, and a stack that names an image or a managed PostgreSQL version outside its row fails
// before any resource exists. docs/compatibility.md explains every row; the runtime-contract
// tests hold the program to the upstream facts of each pinned version.
type Release struct {
	// Version is PostHog's release.
	Version    string
	PostHog    Pin
	ClickHouse Pin
	// Experimental are the allow_experimental_* settings the ClickHouse line knows: a stack may
	// allow one by name, and a name ClickHouse does not know stops it at start.
	Experimental []string
	// Backup is clickhouse-backup, which runs beside every ClickHouse replica.
	Backup    Pin
	Kafka     Pin
	ZooKeeper Pin
	Redis     Pin
	// Postgres is the in-cluster stand-in of the local stack; ManagedPostgres the clouds'.
	Postgres        Pin
	ManagedPostgres Managed
	PgBouncer       Pin
	// Curl runs the Jobs and init containers that speak HTTP: it triggers the backups and
	// fetches a cloud's CA bundle.
	Curl Pin
	// Exporters serve the metrics of the services that have no Prometheus endpoint of their
	// own; Pushgateway keeps the integrity check's results; Lister (rclone) lists every cloud's
	// buckets for the check (components/monitoring).
	RedisExporter, PgBouncerExporter, PostgresExporter, KafkaExporter Pin
	Pushgateway, Lister                                               Pin
	// ClickHouseGroup is the consumer group of ClickHouse's Kafka engine tables; IngestionGroup
	// the plugin server's ingestion group: the groups whose lag the alerts watch.
	ClickHouseGroup, IngestionGroup string
	// Topics are the Kafka topics the release's services produce to and consume from. PostHog
	// never creates them and the brokers do not auto-create, so the platform creates exactly these.
	Topics []string
}

// Pin is the image a service runs by default and the versions a stack may pin instead.
type Pin struct {
	Image Image
	// Accepts is the range an overriding image's version must fall in, as space-separated
	// bounds (">=22.8.0 <22.9.0"); empty accepts only the pinned version.
	Accepts string
	// Source is where the row's facts come from.
	Source string
}

// Managed is the PostgreSQL a cloud stack's managed database runs for the release.
type Managed struct {
	// Versions are the major versions postgres.version may name.
	Versions []string
	// SkipVersionCheck says why PostHog's own start-up version check must be skipped against a
	// managed database ("" keeps the check): the cloud chooses the minor release.
	SkipVersionCheck string
	Source           string
}

// Image is a container image and what the platform must know of it.
type Image struct {
	// Ref is repository:tag, or repository:tag@sha256:… .
	Ref string
	// User is the uid and gid the image's process runs as; zero where the image names its user
	// only by name, and the platform leaves the image's own user in place.
	User User
}

// User is a numeric uid and gid.
type User struct{ UID, GID int64 }

// UnmarshalJSON reads an image from a stack file, where it is a plain string.
func (i *Image) UnmarshalJSON(b []byte) error {
	var ref string
	if err := json.Unmarshal(b, &ref); err != nil {
		return err
	}
	*i = Image{Ref: ref}
	return nil
}

// String is the image reference.
func (i Image) String() string { return i.Ref }

// Releases are the PostHog releases this platform deploys, by version.
var Releases = map[string]Release{"1.43.0": posthog143}

// CurrentRelease is the release every stack deploys.
const CurrentRelease = "1.43.0"

// posthog143 is PostHog 1.43.0 (January 2023), the last tagged release of PostHog's
// self-hosted architecture (web, capture, plugin server, Celery worker on Kafka, ClickHouse and
// ZooKeeper): its Helm chart kept appVersion 1.43.0 from chart 30.3.0 to 30.46.0 and then moved
// to an untagged `latest` image.
var posthog143 = Release{
	Version: "1.43.0",
	PostHog: Pin{
		Image:  Image{Ref: "posthog/posthog:release-1.43.0"},
		Source: "PostHog/posthog tag 1.43.0 (8af8515b); production.Dockerfile runs as the user posthog, created without a fixed uid",
	},
	ClickHouse: Pin{
		Image:   Image{Ref: "clickhouse/clickhouse-server:22.8.11.15", User: User{101, 101}},
		Accepts: ">=22.8.0 <22.9.0",
		Source: "PostHog/charts-clickhouse 30.3.1 (e55f371c, appVersion 1.43.0) pins 22.8.11.15; PostHog 1.43.0 " +
			"posthog/settings/service_requirements.py accepts >=21.6.0,<22.9.0; the setting names we use are checked " +
			"against the 22.8 line; docker/server/Dockerfile creates clickhouse with uid/gid 101",
	},
	Experimental: []string{
		"allow_experimental_alter_materialized_view_structure", "allow_experimental_bigint_types",
		"allow_experimental_codecs", "allow_experimental_database_atomic",
		"allow_experimental_database_materialized_mysql", "allow_experimental_database_materialized_postgresql",
		"allow_experimental_database_replicated", "allow_experimental_funnel_functions", "allow_experimental_geo_types",
		"allow_experimental_hash_functions", "allow_experimental_lightweight_delete", "allow_experimental_live_view",
		"allow_experimental_map_type", "allow_experimental_nlp_functions", "allow_experimental_object_type",
		"allow_experimental_parallel_reading_from_replicas", "allow_experimental_projection_optimization",
		"allow_experimental_query_deduplication", "allow_experimental_window_functions", "allow_experimental_window_view",
	},
	Backup: Pin{
		Image:   Image{Ref: "altinity/clickhouse-backup:2.6.30", User: User{101, 101}},
		Accepts: ">=2.6.30 <2.7.0",
		Source: "Altinity/clickhouse-backup v2.6.30 (01ed4889): POST /backup/create_remote is new in 2.6.30; ClickHouse " +
			"22.8 is in its test matrix; it runs as ClickHouse's own user to read and write the replica's files",
	},
	Kafka: Pin{
		Image:   Image{Ref: "apache/kafka:3.9.0", User: User{1000, 1000}},
		Accepts: ">=3.9.0 <3.10.0",
		Source: "PostHog 1.43.0 checks no Kafka version; its clients are kafka-python 2.0.2 and kafkajs 2.2.2, whose " +
			"protocol versions Kafka 3.x serves (KIP-896 removes pre-2.1 ones only in 4.0); ZooKeeper mode is removed in " +
			"4.0 (docs/ops.html at 3.9.0); the image's user and paths are read at 3.9.0 (docker/jvm/Dockerfile: USER " +
			"appuser, adduser -D on alpine: the first uid, 1000)",
	},
	ZooKeeper: Pin{
		Image:   Image{Ref: "zookeeper:3.8.6", User: User{1000, 1000}},
		Accepts: ">=3.8.0 <3.9.0",
		Source: "31z4/zookeeper-docker 52a83649 (3.8.6/Dockerfile): zookeeper uid/gid 1000, /conf, /data; Kafka 3.9.0 " +
			"bundles the 3.8.4 client; the 1.43.0 chart ran 3.7.0",
	},
	Redis: Pin{
		Image:   Image{Ref: "redis:6.2.24-alpine", User: User{999, 1000}},
		Accepts: ">=6.2.0 <=6.3.0",
		Source: "PostHog 1.43.0 service_requirements.py accepts redis >=5.0.0,<=6.3.0 (its docker-compose ran 6.2.7); " +
			"the image is read at 6.2 (docker-library/redis 6.2 alpine: redis uid 999, gid 1000, /data)",
	},
	Postgres: Pin{
		Image:   Image{Ref: "postgres:13.23-alpine", User: User{70, 70}},
		Accepts: ">=11.0.0 <=14.1.0",
		Source: "PostHog 1.43.0 service_requirements.py accepts postgresql >=11.0.0,<=14.1.0 as semver, so 14.2 and " +
			"later fail; 13.23 is the last release of 13 (docker-library, November 2025) and the newest version the " +
			"check accepts; its docker-compose ran 12; docker-library/postgres alpine: postgres uid/gid 70",
	},
	ManagedPostgres: Managed{
		Versions: []string{"14"},
		SkipVersionCheck: "a cloud runs the newest 14.x minor, which PostHog 1.43.0's check (<=14.1.0) refuses; minor " +
			"releases of one PostgreSQL major fix bugs and never change behaviour, so the check is skipped on clouds " +
			"only, and this table holds Redis and ClickHouse to PostHog's ranges itself",
		Source: "PostHog 1.43.0 service_requirements.py and apps.py (exit 1 unless SKIP_SERVICE_VERSION_REQUIREMENTS); " +
			"15 is outside the range and changed the public schema's privileges",
	},
	PgBouncer: Pin{
		Image:   Image{Ref: "edoburu/pgbouncer:v1.25.2-p0", User: User{70, 70}},
		Accepts: ">=1.25.0 <1.26.0",
		Source: "the 1.43.0 chart ran bitnami/pgbouncer in transaction pooling; edoburu/docker-pgbouncer v1.25.2-p0 runs " +
			"the same ini as USER postgres (uid 70 on alpine); Debian's 1.18 runs our generated ini in the tests",
	},
	Curl: Pin{
		Image:   Image{Ref: "curlimages/curl:8.11.1"},
		Accepts: ">=8.11.0 <8.12.0",
		Source: "curl/curl-container 8.11.1 (create_base_image.sh): alpine with curl.se's extract of Mozilla's roots " +
			"at /cacert.pem (CURL_CA_BUNDLE); runs as curl_user, a name without a fixed uid",
	},
	RedisExporter: Pin{
		Image: Image{Ref: "oliver006/redis_exporter:v1.88.0", User: User{59000, 59000}},
		Source: "oliver006/redis_exporter v1.88.0: Dockerfile USER 59000:59000, EXPOSE 9121; REDIS_ADDR; --check-single-keys " +
			"db0=celery exports redis_key_size{db,key} (exporter/keys.go)",
	},
	PgBouncerExporter: Pin{
		Image: Image{Ref: "prometheuscommunity/pgbouncer-exporter:v0.12.1", User: User{65534, 65534}},
		Source: "prometheus-community/pgbouncer_exporter v0.12.1: Dockerfile USER nobody (busybox: 65534), EXPOSE 9127; " +
			"PGBOUNCER_EXPORTER_CONNECTION_STRING to the admin console; SHOW POOLS gauges (collector.go)",
	},
	PostgresExporter: Pin{
		Image: Image{Ref: "quay.io/prometheuscommunity/postgres-exporter:v0.20.1", User: User{65534, 65534}},
		Source: "prometheus-community/postgres_exporter v0.20.1: Dockerfile USER nobody, listens on :9187; DATA_SOURCE_URI, " +
			"DATA_SOURCE_USER, DATA_SOURCE_PASS; pg_up, pg_stat_database_numbackends, pg_settings_max_connections",
	},
	KafkaExporter: Pin{
		Image: Image{Ref: "danielqsj/kafka-exporter:v1.9.0", User: User{65534, 65534}},
		Source: "danielqsj/kafka_exporter v1.9.0: Dockerfile USER nobody, EXPOSE 9308; --kafka.server, --kafka.version; it " +
			"exits when no broker answers at start; a partition without a leader has no kafka_topic_partition_leader series",
	},
	Pushgateway: Pin{
		Image:  Image{Ref: "prom/pushgateway:v1.11.1", User: User{65534, 65534}},
		Source: "prometheus/pushgateway v1.11.1: Dockerfile USER 65534, EXPOSE 9091; /-/ready, /-/healthy",
	},
	Lister: Pin{
		Image: Image{Ref: "rclone/rclone:1.72.0", User: User{65534, 65534}},
		Source: "rclone/rclone v1.72.0: Dockerfile FROM alpine (sh, sed, awk), no USER (runs here as nobody, with " +
			"RCLONE_CACHE_DIR on the pod's scratch volume); remotes from RCLONE_CONFIG_<NAME>_<OPTION>; s3 and azureblob " +
			"env_auth; size --json prints {\"count\",\"bytes\",\"sizeless\"} (cmd/size/size.go)",
	},
	ClickHouseGroup: "group1",
	IngestionGroup:  "clickhouse-ingestion",
	Topics: []string{
		"events_plugin_ingestion",
		"conversion_events_buffer",
		"clickhouse_events_json",
		"clickhouse_person",
		"clickhouse_person_unique_id",
		"clickhouse_person_distinct_id",
		"clickhouse_session_recording_events",
		"clickhouse_performance_events",
		"clickhouse_groups",
		"clickhouse_ingestion_warnings",
		"clickhouse_app_metrics",
		"clickhouse_metrics_time_to_see_data",
		"plugin_log_entries",
		"events_dead_letter_queue",
		"jobs",
		"jobs_dlq",
		"scheduled_tasks",
		"scheduled_tasks_dlq",
	},
}

// Current is the release every stack deploys.
func Current() Release { return Releases[CurrentRelease] }

// splitRef parts an image reference into its repository and its tag ("" without one),
// dropping a digest.
func splitRef(ref string) (repository, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// Repository is an image reference without its tag or digest.
func Repository(ref string) string {
	repository, _ := splitRef(ref)
	return repository
}

var versionNumber = regexp.MustCompile(`[0-9]+(\.[0-9]+)*`)

// VersionOf is the version an image's tag names: its first dotted number (22.8.11.15 of
// 22.8.11.15, 6.2.24 of 6.2.24-alpine, 1.43.0 of release-1.43.0); "" without one.
func VersionOf(ref string) string {
	_, tag := splitRef(ref)
	return versionNumber.FindString(tag)
}

// InRange says whether version satisfies every bound of a range such as ">=22.8.0 <22.9.0";
// versions compare number by number, a missing number being 0. An empty range accepts nothing.
func InRange(version, bounds string) (bool, error) {
	if version == "" || bounds == "" {
		return false, nil
	}
	for _, b := range strings.Fields(bounds) {
		op := b[:len(b)-len(strings.TrimLeft(b, "<>="))]
		cmp := compareVersions(version, b[len(op):])
		ok := map[string]bool{">=": cmp >= 0, ">": cmp > 0, "<=": cmp <= 0, "<": cmp < 0, "=": cmp == 0}
		v, known := ok[op]
		if !known {
			return false, fmt.Errorf("range %q: bound %q has no comparison (>=, >, <=, <, =)", bounds, b)
		}
		if !v {
			return false, nil
		}
	}
	return true, nil
}

// compareVersions orders two dotted versions number by number.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// checkPin holds an image a stack names to its release row: the row's repository (whose user
// and paths the platform is built for), a pinned tag, and a version the row accepts. It gives a
// valid image the row's user.
func checkPin(check func(bool, string, any, string), key string, img *Image, pin Pin) {
	if !checkImage(check, key, img.Ref) {
		return
	}
	want := Repository(pin.Image.Ref)
	if got := Repository(img.Ref); got != want {
		check(false, key, quote(img.Ref), fmt.Sprintf("must be an image of %s: the platform is built for its user, "+
			"paths and settings (%s)", want, pin.Source))
		return
	}
	version, pinned := VersionOf(img.Ref), VersionOf(pin.Image.Ref)
	if version == "" {
		check(false, key, quote(img.Ref), fmt.Sprintf("must tag a version, such as %s (a digest may follow the tag)", pinned))
		return
	}
	if strings.Count(version, ".") < strings.Count(pinned, ".") {
		check(false, key, quote(img.Ref), fmt.Sprintf("must tag a full version, as %s does: a tag such as %s "+
			"follows new releases, outside what is checked here", pinned, strings.Split(pinned, ".")[0]))
		return
	}
	ok := version == pinned
	if pin.Accepts != "" {
		ok, _ = InRange(version, pin.Accepts)
	}
	allowed := "the pinned " + pinned
	if pin.Accepts != "" {
		allowed = pin.Accepts
	}
	check(ok, key, quote(img.Ref), fmt.Sprintf("must tag a version in %s (%s); see docs/compatibility.md", allowed, pin.Source))
	img.User = pin.Image.User
}
