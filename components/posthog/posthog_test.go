package posthog

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/upstream"
)

func byName(ph config.PostHog) map[string]Service {
	m := map[string]Service{}
	for _, s := range Services(ph) {
		m[s.Name] = s
	}
	return m
}

func TestServicesRouteCaptureToEvents(t *testing.T) {
	ph := config.Defaults(config.Local, config.Prod).PostHog
	services := byName(ph)
	if got := services["posthog-events"].Paths; !slices.Contains(got, "/e") || !slices.Contains(got, "/capture") || !slices.Contains(got, "/batch") {
		t.Errorf("events paths = %v", got)
	}
	if got := services["posthog-web"].Paths; !slices.Equal(got, []string{"/"}) {
		t.Errorf("web paths = %v", got)
	}
	if w := services["posthog-worker"]; w.Port != 0 || w.Scale.Min != ph.Workers || w.Scale.Max != ph.Workers {
		t.Errorf("worker = %+v: no port, a fixed count", w)
	}
	if p := services["posthog-plugins"]; p.Scale != ph.Plugins || p.Port == 0 {
		t.Errorf("plugins = %+v", p)
	}
}

// release reads a fact file of the pinned PostHog release.
func release(t *testing.T, kind string) upstream.File {
	t.Helper()
	version := config.Current().Version
	f, err := upstream.Read(fmt.Sprintf("testdata/posthog-%s-%s.tsv", version, kind))
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta["tag"] != version {
		t.Fatalf("%s is read at %s, the release is %s", f.Path, f.Meta["tag"], version)
	}
	return f
}

func args(api config.ObjectAPI, skip string) Args {
	return Args{
		Config: config.Defaults(config.Local, config.Prod).PostHog,
		Postgres: foundation.Postgres{Host: pulumi.String("pgbouncer").ToStringOutput(), Port: 6432, Database: "posthog",
			User: "posthog", Password: pulumi.String("pw").ToStringOutput()},
		ObjectStorage: foundation.ObjectStorage{API: api, Endpoint: "https://s3.eu-west-1.amazonaws.com",
			Region: "eu-west-1", Buckets: foundation.Buckets{Data: "data", Backups: "backups"}},
		ClickHouse:        kube.Endpoint{Hosts: []string{"clickhouse.ph.svc.cluster.local"}, Port: 9000},
		ClickHouseCluster: "posthog",
		Kafka: kube.Endpoint{Hosts: []string{"kafka-0.kafka.ph.svc.cluster.local", "kafka-1.kafka.ph.svc.cluster.local"},
			Port: 9092},
		Redis:                   kube.Endpoint{Hosts: []string{"redis-0.redis.ph.svc.cluster.local"}, Port: 6379},
		SkipServiceVersionCheck: skip,
	}
}

// TestEveryVariableIsOneThePinnedReleaseReads: a misspelt or outdated variable (KAFKA_HOSTS for
// Django, OBJECT_STORAGE_REGION) is silently ignored and leaves a default in place; and what
// PostHog refuses to start without must be set.
func TestEveryVariableIsOneThePinnedReleaseReads(t *testing.T) {
	f := release(t, "env")
	readers := map[string]string{}
	var required []string
	for _, row := range f.Rows {
		readers[row[0]] = row[1]
		if strings.Contains(row[2], "REQUIRED") {
			required = append(required, row[0])
		}
	}
	set := map[string]bool{}
	for _, a := range []Args{args(config.S3, ""), args(config.S3, "managed PostgreSQL"), args(config.AzureBlob, "")} {
		if len(SecretEnv(a)) < 3 {
			t.Fatalf("secret settings %v", SecretEnv(a))
		}
		for k := range Env(a) {
			set[k] = true
		}
	}
	withKeys := args(config.S3, "")
	withKeys.ObjectStorage.Credentials = &foundation.Credentials{}
	for k := range SecretEnv(withKeys) {
		set[k] = true
	}
	// The migrations' own variables (newMigrations), and each service's own.
	set["DATABASE_URL"], set["USING_PGBOUNCER"] = true, true
	for _, svc := range Services(config.Defaults(config.Local, config.Prod).PostHog) {
		for k := range svc.Env {
			set[k] = true
		}
	}
	for k := range set {
		if !strings.Contains(readers[k], "django") && !strings.Contains(readers[k], "plugin-server") {
			t.Errorf("%s is set, but PostHog %s reads no such variable", k, f.Meta["tag"])
		}
	}
	for _, k := range required {
		if !set[k] {
			t.Errorf("%s is required by PostHog %s and not set", k, f.Meta["tag"])
		}
	}
	for k, reader := range map[string]string{"KAFKA_URL": "django", "KAFKA_HOSTS": "plugin-server"} {
		if !strings.Contains(readers[k], reader) {
			t.Errorf("the facts say %s is not read by %s: revisit the Kafka settings", k, reader)
		}
	}
}

func TestKafkaURLsCarryTheSchemeDjangoParses(t *testing.T) {
	env := Env(args(config.S3, ""))
	// Django: ",".join(urlparse(h).netloc for h in KAFKA_URL.split(",")); a bare host:port has
	// no netloc, and the ClickHouse Kafka tables would be created pointing nowhere.
	if env["KAFKA_URL"] != "kafka://kafka-0.kafka.ph.svc.cluster.local:9092,kafka://kafka-1.kafka.ph.svc.cluster.local:9092" {
		t.Errorf("KAFKA_URL = %q", env["KAFKA_URL"])
	}
	if env["KAFKA_HOSTS"] != "kafka-0.kafka.ph.svc.cluster.local:9092,kafka-1.kafka.ph.svc.cluster.local:9092" {
		t.Errorf("KAFKA_HOSTS = %q", env["KAFKA_HOSTS"])
	}
	if _, ok := env["OBJECT_STORAGE_REGION"]; ok {
		t.Error("OBJECT_STORAGE_REGION is not read at 1.43.0 (the region is fixed to us-east-1 in posthog/storage/object_storage.py)")
	}
	if env["USING_PGBOUNCER"] != "true" || env["CLICKHOUSE_SECURE"] != "false" {
		t.Errorf("env = %v", env)
	}
	if _, ok := env["SKIP_SERVICE_VERSION_REQUIREMENTS"]; ok {
		t.Error("the version check is skipped without a reason")
	}
	if Env(args(config.S3, "managed"))["SKIP_SERVICE_VERSION_REQUIREMENTS"] != "1" {
		t.Error("the version check is not skipped where the release row says it must be")
	}
}

func path(p *corev1.ProbeArgs) (string, string) {
	if p == nil {
		return "", ""
	}
	if p.Exec != nil {
		return "exec", fmt.Sprint(p.Exec.(corev1.ExecActionArgs).Command)
	}
	get := p.HttpGet.(corev1.HTTPGetActionArgs)
	return fmt.Sprint(get.Path), fmt.Sprint(get.Port)
}

// TestServicesRunWhatTheImageShipsAndProbeWhatItServes holds each service's command, flags,
// port and probes to what the pinned release's scripts and health servers are.
func TestServicesRunWhatTheImageShipsAndProbeWhatItServes(t *testing.T) {
	f := release(t, "processes")
	facts := map[string]bool{}
	for _, row := range f.Rows {
		facts[row[0]+" "+row[1]] = true
	}
	for _, svc := range Services(config.Defaults(config.Local, config.Prod).PostHog) {
		script := svc.Command[0]
		if !facts["script "+script] {
			t.Errorf("%s runs %s, which the image does not ship", svc.Name, script)
		}
		for _, flag := range svc.Command[1:] {
			if !facts["flag "+script+" "+flag] && !facts["flag "+script+" "+strings.SplitN(flag, "=", 2)[0]+"=<N>"] {
				t.Errorf("%s passes %s, which %s does not take", svc.Name, flag, script)
			}
		}
		if svc.Port != 0 && !facts[fmt.Sprintf("port %s %d", script, svc.Port)] {
			t.Errorf("%s expects port %d, where %s does not listen", svc.Name, svc.Port, script)
		}
		if svc.Liveness == nil || svc.Startup == nil || (svc.Port != 0) != (svc.Readiness != nil) {
			t.Errorf("%s: a liveness and a startup probe, and a readiness probe exactly when it serves", svc.Name)
			continue
		}
		probes := map[string]*corev1.ProbeArgs{"liveness": svc.Liveness, "startup": svc.Startup}
		if svc.Readiness != nil {
			probes["readiness"] = svc.Readiness
		}
		for kind, p := range probes {
			what, port := path(p)
			switch {
			case what == "exec":
				if !strings.Contains(port, "-d node@$HOSTNAME") || !facts["celery-name node@%h"] {
					t.Errorf("%s %s probe %s does not ask this pod's worker (node@<hostname>)", svc.Name, kind, port)
				}
			case port != "http" || !facts["http "+script+" "+what]:
				t.Errorf("%s %s probe %s on %s: %s serves no such path", svc.Name, kind, what, port, script)
			}
		}
	}
	services := byName(config.Defaults(config.Local, config.Prod).PostHog)
	for name, want := range map[string]string{"posthog-web": "/_readyz?role=web", "posthog-events": "/_readyz?role=events"} {
		if got, _ := path(services[name].Readiness); got != want {
			t.Errorf("%s readiness = %s, want %s (what that role needs, not every check)", name, got, want)
		}
	}
	if !slices.Contains(services["posthog-plugins"].Command, "--no-restart-loop") {
		t.Error("the plugin server restarts itself in a loop: Kubernetes never sees it fail")
	}
}

// TestAServiceIsOneEntry: a service's container is built from its entry alone, its own
// settings beside the shared ones, and no other service sees them.
func TestAServiceIsOneEntry(t *testing.T) {
	base := kube.Container{Image: config.Current().PostHog.Image, Env: corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("SHARED"), Value: pulumi.String("1")}}}
	plugins := byName(config.Defaults(config.Local, config.Prod).PostHog)["posthog-plugins"]
	async := plugins
	async.Name, async.Env = "posthog-plugins-async", map[string]string{"PLUGIN_SERVER_MODE": "async"}
	c := async.Container(base)
	if len(c.Env) != 2 || c.Env[1].(corev1.EnvVarArgs).Name != pulumi.String("PLUGIN_SERVER_MODE") ||
		c.Env[1].(corev1.EnvVarArgs).Value != pulumi.String("async") {
		t.Errorf("env = %v, want SHARED and the service's PLUGIN_SERVER_MODE", c.Env)
	}
	if len(base.Env) != 1 || len(plugins.Container(base).Env) != 1 {
		t.Error("a service's own settings leak into the shared container or another service")
	}
	if !slices.Equal(c.Command, plugins.Command) || c.Readiness != plugins.Readiness || len(c.Ports) != 1 || c.Ports[0].Port != pluginPort {
		t.Errorf("container = %+v: the entry's command, probes and port", c)
	}
	if w := byName(config.Defaults(config.Local, config.Prod).PostHog)["posthog-worker"].Container(base); len(w.Ports) != 0 {
		t.Errorf("the worker serves nothing, but has ports %v", w.Ports)
	}
}

func TestMigrationsVerifyTheDatabase(t *testing.T) {
	for _, tc := range []struct {
		tls  foundation.PostgresTLS
		want []string
	}{
		{foundation.PostgresTLS{Mode: "verify-full", CAURL: "https://ca"}, []string{"sslmode=verify-full", "sslrootcert=%2Fetc%2Fpostgres-ca%2Fca.pem"}},
		{foundation.PostgresTLS{Mode: "verify-ca"}, []string{"sslmode=verify-ca", "sslrootcert="}},
		{foundation.PostgresTLS{Mode: "disable"}, []string{"sslmode=disable"}},
	} {
		pg := foundation.Postgres{Host: pulumi.String("db").ToStringOutput(), Port: 5432, Database: "posthog", User: "posthog",
			Password: pulumi.String("pw/+@").ToStringOutput(), TLS: tc.tls}
		got := make(chan string, 1)
		MigrationsURL(pg).ApplyT(func(s string) string { got <- s; return s })
		u := <-got
		for _, w := range tc.want {
			if !strings.Contains(u, w) {
				t.Errorf("%s: URL lacks %s", tc.tls.Mode, w)
			}
		}
		if tc.tls.Mode == "disable" && strings.Contains(u, "sslrootcert") {
			t.Errorf("a server without TLS gets a CA")
		}
	}
}
