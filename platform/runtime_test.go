package platform_test

// The runtime contract of the rendered stacks: every object the program sends for the local
// stack and every cloud stack, held to what the pinned releases need to boot (the findings of
// the runtime audit, one test each), with upstream's facts read from the fact files.

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/upstream"
	"github.com/posthog-deploy/posthog-deploy/platform/capture"
)

// rendered is one shipped stack, run under mocks.
type rendered struct {
	name, cloud, env string
	cfg              *config.Config
	rs               []capture.Resource
}

// allStacks renders every shipped stack once for the package's tests, which only read them.
func allStacks(t *testing.T) []rendered {
	t.Helper()
	stacksOnce.Do(func() { stacksCache, stacksErr = renderAll() })
	if stacksErr != nil {
		t.Fatal(stacksErr)
	}
	return stacksCache
}

var (
	stacksOnce  sync.Once
	stacksCache []rendered
	stacksErr   error
)

func renderAll() ([]rendered, error) {
	files, err := filepath.Glob("../stacks/Pulumi.*.yaml")
	if err != nil || len(files) != 13 {
		return nil, fmt.Errorf("want the local stack and 12 cloud stacks, found %d: %v", len(files), err)
	}
	var out []rendered
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml")
		cfg, err := capture.StackFile(f)
		if err != nil {
			return nil, err
		}
		rs, err := capture.Run(name, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		parsed, err := cfg.Parse()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, rendered{name: name, cloud: cfg.Values["posthog-deploy:cloud"],
			env: cfg.Values["posthog-deploy:environment"], cfg: parsed, rs: rs})
	}
	return out, nil
}

// eachStack runs check on every shipped stack.
func eachStack(t *testing.T, check func(t *testing.T, s rendered)) {
	for _, s := range allStacks(t) {
		t.Run(s.name, func(t *testing.T) { check(t, s) })
	}
}

func (s rendered) find(t *testing.T, typ, name string) resource.PropertyValue {
	t.Helper()
	r, ok := ofType(s.rs, typ)[name]
	if !ok {
		t.Fatalf("no %s %s", typ, name)
	}
	return obj(r)
}

func (s rendered) data(t *testing.T, typ, name, key string) string {
	t.Helper()
	field := "data"
	if typ == "kubernetes:core/v1:Secret" {
		field = "stringData"
	}
	return str(get(s.find(t, typ, name), field, key))
}

// podSpec is the pod template of a workload (a Job's, a CronJob's job's).
func podSpec(v resource.PropertyValue) resource.PropertyValue {
	if jt := get(v, "spec", "jobTemplate"); !jt.IsNull() {
		return get(jt, "spec", "template", "spec")
	}
	return get(v, "spec", "template", "spec")
}

func containers(v resource.PropertyValue, key string) []resource.PropertyValue {
	c := get(podSpec(v), key)
	if !c.IsArray() {
		return nil
	}
	return c.ArrayValue()
}

// container is the workload's container named name ("" for the first).
func container(t *testing.T, v resource.PropertyValue, name string) resource.PropertyValue {
	t.Helper()
	for _, c := range containers(v, "containers") {
		if name == "" || str(get(c, "name")) == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return resource.PropertyValue{}
}

// env maps a container's variables to their values, or to "secret:<name>/<key>".
func env(c resource.PropertyValue) map[string]string {
	out := map[string]string{}
	if e := get(c, "env"); e.IsArray() {
		for _, v := range e.ArrayValue() {
			if ref := get(v, "valueFrom", "secretKeyRef"); !ref.IsNull() {
				out[str(get(v, "name"))] = "secret:" + str(get(ref, "name")) + "/" + str(get(ref, "key"))
				continue
			}
			out[str(get(v, "name"))] = str(get(v, "value"))
		}
	}
	return out
}

// command is a container's command, its words joined by spaces.
func command(c resource.PropertyValue) string {
	var words []string
	if cmd := get(c, "command"); cmd.IsArray() {
		for _, w := range cmd.ArrayValue() {
			words = append(words, str(unwrap(w)))
		}
	}
	return strings.Join(words, " ")
}

func mountAt(c resource.PropertyValue, path string) (resource.PropertyValue, bool) {
	if m := get(c, "volumeMounts"); m.IsArray() {
		for _, v := range m.ArrayValue() {
			if str(get(v, "mountPath")) == path {
				return v, true
			}
		}
	}
	return resource.PropertyValue{}, false
}

func facts(t *testing.T, path string) upstream.File {
	t.Helper()
	f, err := upstream.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const (
	statefulSetT = "kubernetes:apps/v1:StatefulSet"
	deploymentT  = "kubernetes:apps/v1:Deployment"
	secretT      = "kubernetes:core/v1:Secret"
	configMapT   = "kubernetes:core/v1:ConfigMap"
	jobT         = "kubernetes:batch/v1:Job"
)

func (s rendered) job(t *testing.T, prefix string) resource.PropertyValue {
	t.Helper()
	for name, r := range ofType(s.rs, jobT) {
		if strings.HasPrefix(name, prefix) {
			return obj(r)
		}
	}
	t.Fatalf("no Job %s*", prefix)
	return resource.PropertyValue{}
}

// Finding 1: PostHog 1.43 exits 1 in every Django process on PostgreSQL > 14.1, Redis > 6.3 or
// ClickHouse >= 22.9, unless the check is skipped; it is skipped on clouds only.
func TestRuntimeServiceVersions(t *testing.T) {
	ranges := map[string]string{}
	f := facts(t, "../config/testdata/posthog-"+config.CurrentRelease+"-service-versions.tsv")
	for _, row := range f.Rows {
		ranges[row[0]] = strings.ReplaceAll(row[1], ",", " ")
	}
	eachStack(t, func(t *testing.T, s rendered) {
		skip := s.data(t, configMapT, "posthog", "SKIP_SERVICE_VERSION_REQUIREMENTS")
		if (skip == "1") != (s.cloud != "local") {
			t.Errorf("SKIP_SERVICE_VERSION_REQUIREMENTS = %q on %s", skip, s.cloud)
		}
		images := map[string]string{
			"redis":      str(get(container(t, s.find(t, statefulSetT, "redis"), ""), "image")),
			"clickhouse": str(get(container(t, s.find(t, statefulSetT, "chi-posthog-0-0"), "chi-posthog-0-0"), "image")),
		}
		if s.cloud == "local" {
			images["postgresql"] = str(get(container(t, s.find(t, statefulSetT, "postgres"), ""), "image"))
		}
		for service, image := range images {
			if in, _ := config.InRange(config.VersionOf(image), ranges[service]); !in {
				t.Errorf("%s %s is outside PostHog's %s", service, image, ranges[service])
			}
		}
		managed := map[string][2]string{
			"aws": {"aws:rds/instance:Instance", "engineVersion"}, "gcp": {"gcp:sql/databaseInstance:DatabaseInstance", "databaseVersion"},
			"digitalocean": {"digitalocean:index/databaseCluster:DatabaseCluster", "version"},
			"azure":        {"azure-native:dbforpostgresql:Server", "version"},
		}[s.cloud]
		if managed[0] != "" {
			version := str(get(obj(only(t, s.rs, managed[0])), managed[1]))
			if strings.TrimPrefix(version, "POSTGRES_") != "14" {
				t.Errorf("managed PostgreSQL %s, want the release's 14", version)
			}
		}
	})
}

// Finding 2: ClickHouse refuses a <zookeeper><root> that does not exist, and nothing creates it.
func TestRuntimeNoZooKeeperRoot(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		if xml := s.data(t, configMapT, "clickhouse-config", "posthog.xml"); strings.Contains(xml, "<root>") {
			t.Errorf("ClickHouse is given a ZooKeeper root:\n%s", xml)
		}
	})
}

// Finding 3: 1.43.0's topics, created by the Job, since nothing else creates them.
func TestRuntimeTopics(t *testing.T) {
	want := facts(t, "../components/kafka/testdata/posthog-"+config.CurrentRelease+"-topics.tsv").Column(0)
	slices.Sort(want)
	eachStack(t, func(t *testing.T, s rendered) {
		script := command(container(t, s.job(t, "kafka-topics-"), ""))
		var got []string
		for _, m := range regexp.MustCompile(`--create --if-not-exists --topic (\S+) `).FindAllStringSubmatch(script, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("topics created %v, want %v", got, want)
		}
	})
}

// Finding 4: each data service runs as its image's user, and its volume, owned by root when
// new, is writable for that user's group, at the path the image keeps its data in.
func TestRuntimeVolumesWritableAtTheImagesPaths(t *testing.T) {
	images := map[string][]string{}
	for _, row := range facts(t, "../config/testdata/images.tsv").Rows {
		images[row[0]] = row
	}
	eachStack(t, func(t *testing.T, s rendered) {
		checked := 0
		for name, r := range ofType(s.rs, statefulSetT) {
			sts := obj(r)
			main := container(t, sts, name)
			row, known := images[config.Repository(str(get(main, "image")))]
			if !known {
				continue // the local object store (MinIO runs as root)
			}
			gid, _ := strconv.Atoi(row[3])
			if int(num(get(podSpec(sts), "securityContext", "fsGroup"))) != gid {
				t.Errorf("%s: fsGroup %v, want %d: the new volume would not be writable", name, get(podSpec(sts), "securityContext"), gid)
			}
			// Every container that mounts the volume (the backup agent beside ClickHouse too) runs
			// as its image's user, and mounts it where that image keeps its data.
			for _, c := range containers(sts, "containers") {
				row, known := images[config.Repository(str(get(c, "image")))]
				if !known {
					t.Errorf("%s: no facts for the image %s", name, str(get(c, "image")))
					continue
				}
				uid, _ := strconv.Atoi(row[2])
				sc := get(c, "securityContext")
				if row[4] == "-" {
					// An exporter beside the service: it runs as its own image's user and never
					// touches the volume.
					if int(num(get(sc, "runAsUser"))) != uid || !strings.Contains(fmt.Sprint(get(sc, "runAsNonRoot")), "true") {
						t.Errorf("%s/%s runs as %v, want its image's user %d", name, str(get(c, "name")), get(sc, "runAsUser"), uid)
					}
					if strings.Contains(fmt.Sprint(get(c, "volumeMounts")), "data") {
						t.Errorf("%s/%s mounts the data volume: %v", name, str(get(c, "name")), get(c, "volumeMounts"))
					}
					continue
				}
				checked++
				if int(num(get(sc, "runAsUser"))) != uid || int(num(get(sc, "runAsGroup"))) != gid {
					t.Errorf("%s/%s runs as %v:%v, want %d:%d", name, str(get(c, "name")), get(sc, "runAsUser"), get(sc, "runAsGroup"), uid, gid)
				}
				data := ""
				for _, m := range get(c, "volumeMounts").ArrayValue() {
					if str(get(m, "name")) == "data" {
						data = str(get(m, "mountPath"))
					}
				}
				if data == "" || data != row[4] && !strings.HasPrefix(row[4], data+"/") {
					t.Errorf("%s/%s mounts its volume at %q; the image keeps its data in %s", name, str(get(c, "name")), data, row[4])
				}
			}
		}
		if checked < 4 {
			t.Errorf("only %d containers checked", checked)
		}
		if props := s.data(t, configMapT, "kafka", "server.properties"); !strings.Contains(props, "log.dirs="+images["apache/kafka"][4]+"\n") {
			t.Errorf("Kafka's log.dirs is not the image's data directory:\n%s", props)
		}
		// kafka-server-start.sh's -loggc writes GC logs into ten 100 MB files unless GC options are given.
		if gc := env(container(t, s.find(t, statefulSetT, "kafka"), "kafka"))["KAFKA_GC_LOG_OPTS"]; !strings.Contains(gc, "stdout") {
			t.Errorf("Kafka's GC log goes to files in the container: KAFKA_GC_LOG_OPTS = %q", gc)
		}
	})
}

// Finding 5: every connection to a managed database is TLS, verified with the cloud's CA.
func TestRuntimeTLSToManagedPostgres(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		ini := s.data(t, configMapT, "pgbouncer", "pgbouncer.ini")
		migrate := s.data(t, secretT, "posthog-migrate", "DATABASE_URL")
		u, err := url.Parse(migrate)
		if err != nil {
			t.Fatalf("the migrations' DATABASE_URL does not parse: %v", err)
		}
		mode := u.Query().Get("sslmode")
		if s.cloud == "local" {
			if mode != "disable" || !strings.Contains(ini, "server_tls_sslmode = disable\n") {
				t.Errorf("the in-cluster PostgreSQL speaks no TLS: sslmode %q\n%s", mode, ini)
			}
			return
		}
		want := map[string]string{"aws": "verify-full", "azure": "verify-full", "gcp": "verify-ca", "digitalocean": "verify-ca"}[s.cloud]
		if mode != want || u.Query().Get("sslrootcert") != "/etc/postgres-ca/ca.pem" {
			t.Errorf("the migrations connect with sslmode %q, sslrootcert %q; want %s with the cloud's CA", mode, u.Query().Get("sslrootcert"), want)
		}
		if !strings.Contains(ini, "server_tls_sslmode = "+want+"\n") || !strings.Contains(ini, "server_tls_ca_file = /etc/postgres-ca/ca.pem\n") {
			t.Errorf("PgBouncer does not verify the server:\n%s", ini)
		}
		for _, workload := range []resource.PropertyValue{s.find(t, deploymentT, "pgbouncer"), s.job(t, "posthog-migrate-")} {
			mount, ok := mountAt(container(t, workload, ""), "/etc/postgres-ca")
			if !ok {
				t.Errorf("%s does not mount the CA", str(get(workload, "metadata", "name")))
				continue
			}
			var volume resource.PropertyValue
			for _, v := range get(podSpec(workload), "volumes").ArrayValue() {
				if str(get(v, "name")) == str(get(mount, "name")) {
					volume = v
				}
			}
			inits := containers(workload, "initContainers")
			if s.cloud == "gcp" || s.cloud == "digitalocean" {
				if !strings.Contains(fmt.Sprint(get(volume, "projected", "sources")), "postgres-ca") {
					t.Errorf("the CA volume %v does not hold the postgres-ca ConfigMap", volume)
				}
			} else if get(volume, "emptyDir").IsNull() || len(inits) != 1 {
				t.Errorf("the CA volume %v is not a scratch volume filled by one init container", volume)
			} else if m, ok := mountAt(inits[0], "/etc/postgres-ca"); !ok || str(get(m, "name")) != str(get(mount, "name")) {
				t.Errorf("the init container does not fill the volume the server reads")
			}
			switch s.cloud {
			case "aws":
				bundle := regexp.MustCompile(`https://truststore\.pki\.rds\.amazonaws\.com/([a-z0-9-]+)/([a-z0-9-]+)-bundle\.pem`)
				var cmds []string
				for _, c := range inits {
					cmds = append(cmds, command(c))
				}
				m := bundle.FindStringSubmatch(strings.Join(cmds, "\n"))
				if len(inits) != 1 || m == nil || m[1] != m[2] {
					t.Errorf("no init container fetches the region's RDS bundle: %v", inits)
				}
			case "azure":
				if len(inits) != 1 || !strings.Contains(command(inits[0]), "cp /cacert.pem") {
					t.Errorf("no init container copies the public roots: %v", inits)
				}
			default:
				if len(inits) != 0 || !strings.Contains(s.data(t, configMapT, "postgres-ca", "ca.pem"), "BEGIN CERTIFICATE") {
					t.Errorf("the CA from %s's API is not in the postgres-ca ConfigMap", s.cloud)
				}
			}
		}
	})
}

// Finding 6: a password with URL delimiters reaches the database intact.
func TestRuntimePasswordEncodedInURLs(t *testing.T) {
	const password = "a/b+c=d@e:f?g#h%i"
	for _, name := range []string{"local", "aws-prod"} {
		cfg, err := capture.StackFile("../stacks/Pulumi." + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Values["posthog-deploy:postgresPassword"] = password
		rs, err := capture.Run(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := rendered{name: name, rs: rs}
		for _, secret := range []string{"posthog", "posthog-migrate"} {
			u, err := url.Parse(s.data(t, secretT, secret, "DATABASE_URL"))
			if err != nil {
				t.Fatalf("%s: %s's DATABASE_URL does not parse: %v", name, secret, err)
			}
			if got, _ := u.User.Password(); got != password {
				t.Errorf("%s: %s's DATABASE_URL carries the password %q, want %q", name, secret, got, password)
			}
		}
		if users := s.data(t, secretT, "pgbouncer", "userlist.txt"); users != `"posthog" "`+password+`"`+"\n" {
			t.Errorf("%s: userlist.txt = %q", name, users)
		}
	}
}

// Finding 7: a query one replica sends another shard is authenticated by the cluster's secret
// and runs as PostHog's user; the password-less default user serves its own pod only.
func TestRuntimeCrossShardQueries(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		secret := s.data(t, secretT, "clickhouse-cluster-secret", "cluster-secret.xml")
		if !regexp.MustCompile(`<remote_servers>\s*<posthog>\s*<secret>[0-9a-f]{64}</secret>`).MatchString(secret) {
			t.Errorf("no inter-server secret for the cluster:\n%s", secret)
		}
		users := s.data(t, secretT, "clickhouse-users", "users.xml")
		if strings.Contains(users, "host_regexp") || strings.Contains(users, "chi-posthog") {
			t.Errorf("the default user is opened to other hosts:\n%s", users)
		}
		sts := s.find(t, statefulSetT, "chi-posthog-0-0")
		found := false
		for _, v := range get(podSpec(sts), "volumes").ArrayValue() {
			for _, src := range get(v, "projected", "sources").ArrayValue() {
				found = found || str(get(src, "secret", "name")) == "clickhouse-cluster-secret"
			}
		}
		if !found {
			t.Error("the cluster's secret is not among ClickHouse's config.d files")
		}
	})
}

// Findings 8 and 11: the probes ask what each process serves; the plugin server runs once.
func TestRuntimePostHogProbes(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		for name, ready := range map[string]string{"posthog-web": "/_readyz?role=web", "posthog-events": "/_readyz?role=events",
			"posthog-plugins": "/_ready"} {
			c := container(t, s.find(t, deploymentT, name), name)
			if got := fmt.Sprint(get(c, "readinessProbe")); !strings.Contains(got, ready) {
				t.Errorf("%s readiness %s, want %s", name, got, ready)
			}
			if get(c, "startupProbe").IsNull() || get(c, "livenessProbe").IsNull() {
				t.Errorf("%s lacks a startup or liveness probe", name)
			}
		}
		worker := container(t, s.find(t, deploymentT, "posthog-worker"), "posthog-worker")
		if got := fmt.Sprint(get(worker, "livenessProbe"), get(worker, "startupProbe")); strings.Count(got, "node@$HOSTNAME") != 2 {
			t.Errorf("the worker's probes do not ping this pod's Celery worker (node@<hostname>): %s", got)
		}
		if c := command(container(t, s.find(t, deploymentT, "posthog-plugins"), "posthog-plugins")); !strings.Contains(c, "--no-restart-loop") {
			t.Errorf("plugin server command %s", c)
		}
	})
}

// Finding 9: the backups work before the first migration, and with the cold tier on.
func TestRuntimeBackupAgents(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		cold := strings.Contains(s.data(t, configMapT, "chi-posthog-0-0", "replica.xml"), "<storage_configuration>")
		for name, r := range ofType(s.rs, statefulSetT) {
			if !strings.HasPrefix(name, "chi-") {
				continue
			}
			e := env(container(t, obj(r), "backup"))
			if e["ALLOW_EMPTY_BACKUPS"] != "true" {
				t.Errorf("%s: ALLOW_EMPTY_BACKUPS = %q", name, e["ALLOW_EMPTY_BACKUPS"])
			}
			disk, path := e["S3_OBJECT_DISK_PATH"], e["S3_PATH"]
			if cold && (disk == "" || path == "" || strings.HasPrefix(path, disk)) {
				t.Errorf("%s: with the cold tier, S3_OBJECT_DISK_PATH %q and S3_PATH %q fail clickhouse-backup's check", name, disk, path)
			}
			agent := fmt.Sprint(get(container(t, obj(r), "backup"), "envFrom"))
			if cold && !strings.Contains(agent, "clickhouse-object-storage") {
				t.Errorf("%s: the backup agent has no keys for the cold disk: %s", name, agent)
			}
		}
		if s.name == "local" && !cold {
			t.Error("the local stack runs the cold tier, so this test must see it")
		}
	})
}

// Findings 10 and 12: Django's KAFKA_URL, the plugin server's KAFKA_HOSTS; no unread region.
func TestRuntimeKafkaAndObjectStorageSettings(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		settings := s.find(t, configMapT, "posthog")
		kafkaURL := str(get(settings, "data", "KAFKA_URL"))
		for _, h := range strings.Split(kafkaURL, ",") {
			if u, err := url.Parse(h); err != nil || u.Scheme != "kafka" || !strings.HasSuffix(u.Host, ":9092") {
				t.Errorf("KAFKA_URL entry %q has no netloc for Django", h)
			}
		}
		if hosts := str(get(settings, "data", "KAFKA_HOSTS")); strings.Contains(hosts, "://") || hosts == "" {
			t.Errorf("KAFKA_HOSTS = %q", hosts)
		}
		if !get(settings, "data", "OBJECT_STORAGE_REGION").IsNull() {
			t.Error("OBJECT_STORAGE_REGION is set, and PostHog 1.43.0 does not read it")
		}
	})
}

// Finding 13: ZooKeeper's heap is the server's only; the image's logging config stays.
func TestRuntimeZooKeeper(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		c := container(t, s.find(t, statefulSetT, "zookeeper"), "zookeeper")
		e := env(c)
		if e["SERVER_JVMFLAGS"] == "" || e["JVMFLAGS"] != "" {
			t.Errorf("env %v: the heap must be SERVER_JVMFLAGS", e)
		}
		m, ok := mountAt(c, "/conf/zoo.cfg")
		if !ok || str(get(m, "subPath")) != "zoo.cfg" {
			t.Errorf("zoo.cfg is not mounted alone into /conf: %v", get(c, "volumeMounts"))
		}
		if _, hidden := mountAt(c, "/conf"); hidden {
			t.Error("/conf is mounted over, hiding the image's logback.xml")
		}
		if p := fmt.Sprint(get(c, "readinessProbe"), get(c, "livenessProbe")); strings.Contains(p, "zkServer.sh") {
			t.Errorf("a probe starts a JVM: %s", p)
		}
	})
}

// Finding 14: Redis is Celery's broker; a full Redis must never evict its queues (no expiry),
// only the cache's expiring keys (components/redis runs this in Debian's Redis).
func TestRuntimeRedisKeepsCelerysQueues(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		if c := command(container(t, s.find(t, statefulSetT, "redis"), "redis")); !strings.Contains(c, "--maxmemory-policy volatile-lru") {
			t.Errorf("redis command %s", c)
		}
	})
}

// Finding 15: the services reach PostgreSQL through PgBouncer; the migrations do not.
func TestRuntimePgBouncer(t *testing.T) {
	eachStack(t, func(t *testing.T, s rendered) {
		u, err := url.Parse(s.data(t, secretT, "posthog", "DATABASE_URL"))
		if err != nil || u.Host != "pgbouncer.posthog.svc.cluster.local:6432" {
			t.Errorf("the services' DATABASE_URL goes to %v (%v), not PgBouncer", u, err)
		}
		if s.data(t, configMapT, "posthog", "USING_PGBOUNCER") != "true" {
			t.Error("Django is not told it is behind PgBouncer (server-side cursors break under transaction pooling)")
		}
		migrate := env(container(t, s.job(t, "posthog-migrate-"), ""))
		if migrate["DATABASE_URL"] != "secret:posthog-migrate/DATABASE_URL" || migrate["USING_PGBOUNCER"] != "false" {
			t.Errorf("the migrations' env %v: they connect directly", migrate)
		}
		bouncer := s.find(t, deploymentT, "pgbouncer")
		c := container(t, bouncer, "pgbouncer")
		if get(c, "readinessProbe").IsNull() || get(c, "livenessProbe").IsNull() {
			t.Error("PgBouncer has no probes")
		}
		if !strings.Contains(s.data(t, configMapT, "pgbouncer", "pgbouncer.ini"), "pool_mode = transaction\n") {
			t.Error("PgBouncer does not pool transactions")
		}
		if _, ok := ofType(s.rs, "kubernetes:core/v1:Service")["pgbouncer"]; !ok {
			t.Error("no pgbouncer Service")
		}
		if replicas := num(get(bouncer, "spec", "replicas")); !strings.HasSuffix(s.name, "dev") && s.name != "local" {
			if _, ok := ofType(s.rs, budget)["pgbouncer"]; !ok || replicas < 2 {
				t.Errorf("%v PgBouncers without a disruption budget in %s", replicas, s.name)
			}
		}
	})
}

// Finding 16: every ClickHouse setting name is one the pinned ClickHouse knows.
func TestRuntimeClickHouseSettingNames(t *testing.T) {
	v := strings.Split(config.VersionOf(config.Current().ClickHouse.Image.Ref), ".")
	known := facts(t, fmt.Sprintf("../components/clickhouse/testdata/clickhouse-%s.%s-settings.txt", v[0], v[1])).Set(0)
	eachStack(t, func(t *testing.T, s rendered) {
		profiles := s.data(t, configMapT, "clickhouse-profiles", "profiles.xml")
		inner := profiles[strings.Index(profiles, "<default>")+len("<default>") : strings.Index(profiles, "</default>")]
		names := regexp.MustCompile(`<([a-z_0-9]+)>`).FindAllStringSubmatch(inner, -1)
		if len(names) < 3 {
			t.Fatalf("no settings found in\n%s", profiles)
		}
		for _, m := range names {
			if !known[m[1]] {
				t.Errorf("profiles.xml sets %s, which ClickHouse %s.%s does not know", m[1], v[0], v[1])
			}
		}
	})
}
