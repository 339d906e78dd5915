package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Load reads the stack's config from the Pulumi context and returns it validated. Run by the
// CLI, the program also sees every key the stack sets (PULUMI_CONFIG) and refuses unknown ones;
// the driver and the tests check the stack files themselves (CheckKeys).
func Load(ctx *pulumi.Context) (*Config, error) {
	if raw := os.Getenv(pulumi.EnvConfig); raw != "" {
		if err := CheckConfigJSON(raw); err != nil {
			return nil, err
		}
	}
	return Parse(contextSource{ctx})
}

type contextSource struct{ ctx *pulumi.Context }

func (s contextSource) Get(key string) (string, bool) { return s.ctx.GetConfig(Namespace + ":" + key) }
func (s contextSource) IsSecret(key string) bool      { return s.ctx.IsConfigSecret(Namespace + ":" + key) }

// Parse builds a Config from raw values: the environment's defaults, overlaid with what the
// stack sets, then validated. Every problem is reported at once, each naming its key.
func Parse(src Source) (*Config, error) {
	var errs Errors
	cloud := Cloud(required(src, "cloud", &errs))
	if cloud != "" && !slices.Contains(Clouds(), cloud) {
		errs = append(errs, FieldError{"cloud", quote(cloud), "must be one of " + list(Clouds())})
	}
	env := Environment(required(src, "environment", &errs))
	if env != "" && !slices.Contains(Environments, env) {
		errs = append(errs, FieldError{"environment", quote(env), "must be one of " + list(Environments)})
	}
	if len(errs) > 0 {
		return nil, errs
	}

	c := Defaults(cloud, env)
	if v, ok := src.Get("namespace"); ok && v != "" {
		c.Namespace = v
	}
	c.Region, _ = src.Get("region")
	c.Project, _ = src.Get("project")
	decode(src, "cluster", &c.Cluster, &errs)
	decode(src, "zookeeper", &c.ZooKeeper, &errs)
	decode(src, "kafka", &c.Kafka, &errs)
	decode(src, "redis", &c.Redis, &errs)
	decode(src, "clickhouse", &c.ClickHouse, &errs)
	decode(src, "postgres", &c.Postgres, &errs)
	decode(src, "pgbouncer", &c.PgBouncer, &errs)
	decode(src, "objectStore", &c.ObjectStore, &errs)
	decode(src, "posthog", &c.PostHog, &errs)
	decode(src, "monitoring", &c.Monitoring, &errs)
	c.Secrets = secrets(src, Facts(cloud).Secrets, &errs)
	errs = append(errs, c.validate()...)
	if !Facts(cloud).StandIns {
		errs = append(errs, c.validateCloud()...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

func required(src Source, key string, errs *Errors) string {
	v, ok := src.Get(key)
	if !ok || v == "" {
		*errs = append(*errs, FieldError{Key: key, Detail: "is required"})
	}
	return v
}

// decode overlays a JSON object onto the defaults in dst; unknown fields are errors, so a typo
// never silently leaves a default in place.
func decode(src Source, key string, dst any, errs *Errors) {
	raw, ok := src.Get(key)
	if !ok {
		return
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		*errs = append(*errs, FieldError{Key: key, Detail: "must be an object of its documented fields: " + jsonDetail(err)})
	}
}

func jsonDetail(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be a %s, not %s", te.Field, te.Type, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func secrets(src Source, keys []string, errs *Errors) Secrets {
	values := map[string]pulumi.StringOutput{}
	for _, key := range keys {
		v, ok := src.Get(key)
		switch {
		case !ok || v == "":
			*errs = append(*errs, FieldError{Key: key, Detail: fmt.Sprintf(
				"is required: set it with `pulumi config set --secret %s:%s <value>`", Namespace, key)})
		case !src.IsSecret(key):
			*errs = append(*errs, FieldError{Key: key, Detail: fmt.Sprintf(
				"must be a secret, not plain text: set it with `pulumi config set --secret %s:%s <value>`", Namespace, key)})
		case len(v) < SecretKeys[key]:
			*errs = append(*errs, FieldError{Key: key, Detail: fmt.Sprintf(
				"must be at least %d characters long (the value is not shown)", SecretKeys[key])})
		}
		values[key] = pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
	}
	return Secrets{
		SecretKey:            values["secretKey"],
		PostgresPassword:     values["postgresPassword"],
		ClickHousePassword:   values["clickhousePassword"],
		ObjectStoreSecretKey: values["objectStoreSecretKey"],
	}
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	email        = regexp.MustCompile(`^[^@\s]+@[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`)
	hostname     = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	quantity     = regexp.MustCompile(`^[1-9][0-9]*(Mi|Gi|Ti)$`)
	identName    = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	cronField    = `[0-9*/,-]+`
	cronSchedule = regexp.MustCompile(`^` + cronField + `( ` + cronField + `){4}$`)
)

// validate checks every value against what is allowed, and holds staging and prod to the
// safe minimums: a quorum of ZooKeeper nodes and at least two replicas of every shard.
func (c *Config) validate() Errors {
	var errs Errors
	check := errs.check
	ha := c.Environment != Dev

	check(dnsLabel.MatchString(c.Namespace), "namespace", quote(c.Namespace),
		"must be a DNS label: lower-case letters, digits and '-', at most 63 characters")
	check(c.Cluster.StorageClass == "" || dnsLabel.MatchString(c.Cluster.StorageClass), "cluster.storageClass",
		quote(c.Cluster.StorageClass), "must be empty (the cluster's default) or a storage class name")

	zk := c.ZooKeeper
	check(zk.Replicas >= 1 && zk.Replicas <= 7 && zk.Replicas%2 == 1, "zookeeper.replicas", zk.Replicas,
		"must be odd, from 1 to 7: an even ensemble tolerates no more failures than the odd one below it")
	check(!ha || zk.Replicas >= 3, "zookeeper.replicas", zk.Replicas,
		fmt.Sprintf("must be at least 3 in %s: one node is no quorum", c.Environment))
	check(zk.PurgeIntervalHours >= 1 && zk.PurgeIntervalHours <= 168, "zookeeper.purgeIntervalHours", zk.PurgeIntervalHours,
		"must be from 1 to 168: autopurge is never off, or snapshots and logs fill the disk")
	check(zk.SnapRetainCount >= 3 && zk.SnapRetainCount <= 100, "zookeeper.snapRetainCount", zk.SnapRetainCount,
		"must be from 3 to 100 (ZooKeeper keeps at least 3 snapshots)")
	r := Current()
	checkPin(check, "zookeeper.image", &c.ZooKeeper.Image, r.ZooKeeper)
	check(quantity.MatchString(zk.Storage), "zookeeper.storage", quote(zk.Storage), "must be a size such as 10Gi")

	k := c.Kafka
	check(k.Brokers >= 1 && k.Brokers <= 9, "kafka.brokers", k.Brokers, "must be from 1 to 9")
	check(!ha || k.Brokers >= 3, "kafka.brokers", k.Brokers,
		fmt.Sprintf("must be at least 3 in %s, to hold three replicas of every partition", c.Environment))
	check(k.ReplicationFactor >= 1 && k.ReplicationFactor <= k.Brokers, "kafka.replicationFactor", k.ReplicationFactor,
		fmt.Sprintf("must be from 1 to kafka.brokers (%d)", k.Brokers))
	check(!ha || k.ReplicationFactor >= 3, "kafka.replicationFactor", k.ReplicationFactor,
		fmt.Sprintf("must be at least 3 in %s: an acknowledged event must survive a broker", c.Environment))
	check(k.MinInsyncReplicas >= 1 && (k.MinInsyncReplicas < k.ReplicationFactor || k.ReplicationFactor == 1),
		"kafka.minInsyncReplicas", k.MinInsyncReplicas,
		fmt.Sprintf("must be at least 1 and below kafka.replicationFactor (%d), or one broker down stops all writes", k.ReplicationFactor))
	check(!ha || k.MinInsyncReplicas >= 2, "kafka.minInsyncReplicas", k.MinInsyncReplicas,
		fmt.Sprintf("must be at least 2 in %s, so that an acknowledged write is on two brokers", c.Environment))
	check(k.Partitions >= 1 && k.Partitions <= 64, "kafka.partitions", k.Partitions, "must be from 1 to 64")
	check(k.RetentionHours >= 1 && k.RetentionHours <= 720, "kafka.retentionHours", k.RetentionHours, "must be from 1 to 720")
	checkPin(check, "kafka.image", &c.Kafka.Image, r.Kafka)
	check(quantity.MatchString(k.Storage), "kafka.storage", quote(k.Storage), "must be a size such as 100Gi")
	var small string
	c.Kafka.RetentionBytes, small = k.retentionBytes(len(r.Topics))
	check(small == "", "kafka.storage", quote(k.Storage), small)

	checkPin(check, "redis.image", &c.Redis.Image, r.Redis)
	check(quantity.MatchString(c.Redis.Storage), "redis.storage", quote(c.Redis.Storage), "must be a size such as 5Gi")

	ch := c.ClickHouse
	check(identName.MatchString(ch.Cluster), "clickhouse.cluster", quote(ch.Cluster),
		"must be a name of letters, digits and '_'")
	check(ch.Shards >= 1 && ch.Shards <= 16, "clickhouse.shards", ch.Shards, "must be from 1 to 16")
	check(ch.Replicas >= 1 && ch.Replicas <= 5, "clickhouse.replicas", ch.Replicas, "must be from 1 to 5")
	check(!ha || ch.Replicas >= 2, "clickhouse.replicas", ch.Replicas,
		fmt.Sprintf("must be at least 2 in %s: a shard with one replica loses data with its disk", c.Environment))
	for i, s := range ch.AllowExperimental {
		check(strings.HasPrefix(s, "allow_experimental_") && identName.MatchString(s),
			fmt.Sprintf("clickhouse.allowExperimental[%d]", i), quote(s), "must name an allow_experimental_* setting")
		check(!strings.Contains(s, "zero_copy"), fmt.Sprintf("clickhouse.allowExperimental[%d]", i), quote(s),
			"zero-copy replication is never allowed: it lost PostHog a region's data")
		check(!strings.HasPrefix(s, "allow_experimental_") || strings.Contains(s, "zero_copy") || slices.Contains(r.Experimental, s),
			fmt.Sprintf("clickhouse.allowExperimental[%d]", i), quote(s),
			"is not a setting ClickHouse "+VersionOf(r.ClickHouse.Image.Ref)+" knows (an unknown setting stops it at start)")
	}
	checkPin(check, "clickhouse.image", &c.ClickHouse.Image, r.ClickHouse)
	check(cronSchedule.MatchString(ch.Backup.Schedule), "clickhouse.backup.schedule", quote(ch.Backup.Schedule),
		"must be a cron schedule of five fields, such as \"0 2 * * *\"")
	check(ch.Backup.Keep >= 1 && ch.Backup.Keep <= 365, "clickhouse.backup.keep", ch.Backup.Keep, "must be from 1 to 365")
	check(c.Environment != Prod || ch.Backup.Keep >= 7, "clickhouse.backup.keep", ch.Backup.Keep, "must be at least 7 in prod")
	check(ch.ColdStorage.MoveFactor > 0 && ch.ColdStorage.MoveFactor < 0.5, "clickhouse.coldStorage.moveFactor",
		ch.ColdStorage.MoveFactor, "must be above 0 and below 0.5")
	checkPin(check, "clickhouse.backup.image", &c.ClickHouse.Backup.Image, r.Backup)
	checkPin(check, "clickhouse.backup.clientImage", &c.ClickHouse.Backup.ClientImage, r.Curl)
	check(quantity.MatchString(ch.Storage), "clickhouse.storage", quote(ch.Storage), "must be a size such as 100Gi")

	checkPin(check, "postgres.image", &c.Postgres.Image, r.Postgres)
	checkPin(check, "postgres.clientImage", &c.Postgres.ClientImage, r.Curl)
	check(quantity.MatchString(c.Postgres.Storage), "postgres.storage", quote(c.Postgres.Storage), "must be a size such as 10Gi")

	pb := c.PgBouncer
	checkPin(check, "pgbouncer.image", &c.PgBouncer.Image, r.PgBouncer)
	check(pb.Replicas >= 1 && pb.Replicas <= 10, "pgbouncer.replicas", pb.Replicas, "must be from 1 to 10")
	check(!ha || pb.Replicas >= 2, "pgbouncer.replicas", pb.Replicas,
		fmt.Sprintf("must be at least 2 in %s: every PostHog service reaches PostgreSQL through it", c.Environment))
	check(pb.PoolSize >= 1 && pb.PoolSize <= 200, "pgbouncer.poolSize", pb.PoolSize,
		"must be from 1 to 200 server connections per PgBouncer (mind the database's max_connections)")
	check(pb.MaxClientConnections >= 100 && pb.MaxClientConnections <= 10000, "pgbouncer.maxClientConnections",
		pb.MaxClientConnections, "must be from 100 to 10000")

	checkImage(check, "objectStore.image", c.ObjectStore.Image.Ref)
	checkImage(check, "objectStore.clientImage", c.ObjectStore.ClientImage.Ref)
	check(quantity.MatchString(c.ObjectStore.Storage), "objectStore.storage", quote(c.ObjectStore.Storage), "must be a size such as 20Gi")

	ph := c.PostHog
	checkPin(check, "posthog.image", &c.PostHog.Image, r.PostHog)
	check(hostname.MatchString(ph.Domain), "posthog.domain", quote(ph.Domain), "must be a host name such as posthog.example.com")
	for _, sc := range []struct {
		key string
		s   Scale
	}{{"posthog.web", ph.Web}, {"posthog.events", ph.Events}, {"posthog.plugins", ph.Plugins}} {
		check(sc.s.Min >= 1, sc.key+".min", sc.s.Min, "must be at least 1")
		check(!ha || sc.s.Min >= 2, sc.key+".min", sc.s.Min,
			fmt.Sprintf("must be at least 2 in %s, so that a rollout or a node loss keeps serving", c.Environment))
		check(sc.s.Max >= sc.s.Min && sc.s.Max <= 50, sc.key+".max", sc.s.Max,
			fmt.Sprintf("must be from %s.min (%d) to 50", sc.key, sc.s.Min))
	}
	check(ph.Workers >= 1 && ph.Workers <= 50, "posthog.workers", ph.Workers, "must be from 1 to 50")
	standIns := Facts(c.Cloud).StandIns
	switch ph.TLS {
	case TLSLetsEncrypt:
		check(!standIns, "posthog.tls", quote(ph.TLS), "is for clouds: the local stack installs no ingress controller or cert-manager")
		check(email.MatchString(ph.ACMEEmail), "posthog.acmeEmail", quote(ph.ACMEEmail),
			"is required with posthog.tls letsencrypt: the address Let's Encrypt sends expiry and account notices to")
	case TLSSecret:
		check(dnsLabel.MatchString(ph.TLSSecretName), "posthog.tlsSecret", quote(ph.TLSSecretName),
			"is required with posthog.tls secret: the name of the kubernetes.io/tls Secret you create in the namespace")
	case TLSNone:
		check(standIns, "posthog.tls", quote(ph.TLS), "must be letsencrypt or secret on a cloud: PostHog is served over HTTPS")
	default:
		check(false, "posthog.tls", quote(ph.TLS), "must be letsencrypt, secret, or none (local only)")
	}
	c.validateMonitoring(check)
	check(len(ph.AllowedSourceRanges) > 0, "posthog.allowedSourceRanges", nil, "must list at least one network (0.0.0.0/0 for everyone)")
	if f := Facts(c.Cloud); !f.StandIns && !f.ClientAddresses {
		check(ph.AppOpenToAll(),
			"posthog.allowedSourceRanges", ph.AllowedSourceRanges, fmt.Sprintf("must admit everyone (0.0.0.0/0) on %s: its load "+
				"balancer hands the ingress controller its own addresses, not the clients', so an allow-list would shut everyone out", c.Cloud))
	}
	for i, cidr := range ph.AllowedSourceRanges {
		p, err := netip.ParsePrefix(cidr)
		check(err == nil && p == p.Masked(), fmt.Sprintf("posthog.allowedSourceRanges[%d]", i), quote(cidr), "must be a network such as 203.0.113.0/24")
	}
	return errs
}

// Pinned says whether an image reference names a tag other than latest, or a digest: an image
// that cannot change under a running platform.
func Pinned(image string) bool {
	repository, tag := splitRef(image)
	return repository != "" && (strings.Contains(image, "@sha256:") || (tag != "" && tag != "latest"))
}

// checkImage requires a pinned image.
func checkImage(check func(bool, string, any, string), key, image string) bool {
	pinned := Pinned(image)
	check(pinned, key, quote(image), "must pin a tag other than latest, or a digest (image:1.2.3)")
	return pinned
}

func quote(v any) string { return fmt.Sprintf("%q", v) }

func list[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Bytes is the size of a quantity such as 10Gi.
func Bytes(q string) (int64, error) {
	if !quantity.MatchString(q) {
		return 0, fmt.Errorf("%q is not a size such as 10Gi", q)
	}
	n, err := strconv.ParseInt(q[:len(q)-2], 10, 64)
	if err != nil {
		return 0, err
	}
	shift := map[string]uint{"Mi": 20, "Gi": 30, "Ti": 40}[q[len(q)-2:]]
	return n << shift, nil
}
