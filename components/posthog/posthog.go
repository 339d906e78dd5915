// Package posthog deploys the PostHog application onto the data plane: its settings as a
// ConfigMap and a Secret, the migrations Job, the web, events (capture), plugin-server and
// worker services with autoscalers and budgets, and the Ingress. What each process reads, serves
// and needs is PostHog 1.43.0's, from its source at that tag (docs/compatibility.md).
package posthog

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/clickhouse"
	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Settings names the ConfigMap and Secret every PostHog service reads its settings from;
// Migrations the Secret that gives the migrations Job its direct connection to PostgreSQL.
const (
	// Name is the component's.
	Name = "posthog"
	// MigrateApp labels the migrations Job's pods.
	MigrateApp = "posthog-migrate"
	Settings   = "posthog"
	Migrations = "posthog-migrate"
	// TLSSecret is where the Ingress expects its certificate (from cert-manager or by hand).
	TLSSecret = "posthog-tls"
	// webPort is gunicorn's (bin/docker-server); pluginPort the plugin server's health server,
	// fixed in its source (plugin-server/src/main/services/http-server.ts).
	webPort = 8000
	// gunicornMetricsPort serves the web processes' Prometheus metrics (bin/docker-server sets
	// PROMETHEUS_METRICS_EXPORT_PORT=8001 and gunicorn.config.py starts the server, at 1.43.0);
	// the plugin server serves its own at /_metrics on its port (src/main/services/http-server.ts).
	gunicornMetricsPort = 8001
	pluginPort          = 6738
)

// Service is one PostHog service: a Deployment of the PostHog image running Command, with the
// probes of what that process serves. A new service is one more entry in Services.
type Service struct {
	Name    string
	Command []string
	// Env is the service's own settings, beside those every service reads (Env): for example
	// PLUGIN_SERVER_MODE for a plugin server that runs one capability only.
	Env map[string]string
	// Port is served over HTTP; 0 for a service with no port (the worker).
	Port int
	// Metrics is where the service serves Prometheus metrics: a port of its own ("" and 0 for
	// none), or MetricsPath on Port.
	MetricsPort int
	MetricsPath string
	Readiness   *corev1.ProbeArgs
	Liveness    *corev1.ProbeArgs
	// Startup covers the first start: every bin/ script runs bin/migrate-check first, and the
	// plugin server opens its port only once Kafka, PostgreSQL, Redis and ClickHouse answer.
	Startup   *corev1.ProbeArgs
	Scale     config.Scale
	Resources kube.Resources
	// Paths are the Ingress paths routed to this service.
	Paths []string
}

// Services lays out PostHog's services for the stack's sizes. Capture paths go to the events
// service, so a surge of events never starves the app.
func Services(ph config.PostHog) []Service {
	// Django's health middleware (posthog/health.py): /_livez answers while the process does;
	// /_readyz?role= checks what that role needs (web: PostgreSQL, migrations, cache; events:
	// Kafka). The roles are exactly events, web and worker.
	django := func(role string) (ready, live, startup *corev1.ProbeArgs) {
		live = kube.HTTPProbe("/_livez", "http", 10)
		return kube.HTTPProbe("/_readyz?role="+role, "http", 10), live, kube.Patient(live, 600)
	}
	webReady, webLive, webStart := django("web")
	eventsReady, eventsLive, eventsStart := django("events")
	// The plugin server: /_health answers once it runs, /_ready once its ingestion consumer has
	// joined its group.
	pluginLive := kube.HTTPProbe("/_health", "http", 20)
	// The worker serves nothing: ask Celery whether this pod's worker (named node@<hostname> by
	// bin/docker-worker-celery) answers a ping. Each ask starts a Django process, so there is no
	// readiness probe besides: no Service routes to workers, and the startup probe gates rollouts.
	workerPing := kube.ExecProbe(120, "sh", "-c", "celery -A posthog inspect ping -d node@$HOSTNAME -t 10")
	workerPing.TimeoutSeconds, workerPing.FailureThreshold = pulumi.Int(60), pulumi.Int(3)
	workerStart := *workerPing
	workerStart.PeriodSeconds, workerStart.FailureThreshold = pulumi.Int(60), pulumi.Int(15)
	return []Service{
		{Name: "posthog-web", Command: []string{"./bin/docker-server"}, Port: webPort, MetricsPort: gunicornMetricsPort,
			Readiness: webReady, Liveness: webLive, Startup: webStart,
			Scale: ph.Web, Resources: kube.Resources{CPU: "500m", Memory: "1Gi"}, Paths: []string{"/"}},
		{Name: "posthog-events", Command: []string{"./bin/docker-server"}, Port: webPort, MetricsPort: gunicornMetricsPort,
			Readiness: eventsReady, Liveness: eventsLive, Startup: eventsStart,
			Scale: ph.Events, Resources: kube.Resources{CPU: "500m", Memory: "1Gi"},
			Paths: []string{"/e", "/capture", "/batch", "/decide", "/track", "/engage", "/s"}},
		// --no-restart-loop: Kubernetes restarts it, not the script's own loop.
		{Name: "posthog-plugins", Command: []string{"./bin/plugin-server", "--no-restart-loop"}, Port: pluginPort, MetricsPath: "/_metrics",
			Readiness: kube.HTTPProbe("/_ready", "http", 10), Liveness: pluginLive, Startup: kube.Patient(pluginLive, 900),
			Scale: ph.Plugins, Resources: kube.Resources{CPU: "500m", Memory: "1Gi"}},
		// Two Celery processes: without --concurrency Celery starts one per CPU of the node.
		{Name: "posthog-worker", Command: []string{"./bin/docker-worker-celery", "--with-scheduler", "--concurrency=2"},
			Liveness: workerPing, Startup: &workerStart,
			Scale: config.Scale{Min: ph.Workers, Max: ph.Workers}, Resources: kube.Resources{CPU: "500m", Memory: "2Gi"}},
	}
}

// Container is the service's container: the shared image and settings (base), with the
// service's command, settings, probes, port and size.
func (s Service) Container(base kube.Container) kube.Container {
	c := base
	c.Command = s.Command
	c.Resources = s.Resources
	c.Readiness, c.Liveness, c.Startup = s.Readiness, s.Liveness, s.Startup
	c.Env = slices.Clone(base.Env)
	for _, kv := range sortedPairs(s.Env) {
		k, v, _ := strings.Cut(kv, "=")
		c.Env = append(c.Env, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(v)})
	}
	if s.Port != 0 {
		c.Ports = []kube.Port{{Name: "http", Port: s.Port}}
	}
	if s.MetricsPort != 0 {
		c.Ports = append(c.Ports, kube.Port{Name: kube.MetricsPort, Port: s.MetricsPort})
	}
	return c
}

// App is the deployed PostHog.
type App struct {
	pulumi.ResourceState
	// URL is where users reach PostHog; Address the load balancer's address (IP or host name)
	// that the domain's DNS record must point to ("" until the cloud assigns it, and on local).
	URL     string
	Address pulumi.StringOutput
}

// Edge is what the Ingresses name at the cluster's edge (components/edge on a cloud; nothing on
// local): the IngressClass, the ClusterIssuer that issues the certificate ("" for none or a
// Secret of the owner's), the allow-list Middleware of the app ("" for everyone), and what must
// exist first.
type Edge struct {
	Class, Issuer, Middleware string
	Ready                     []pulumi.Resource
}

// Args is PostHog's config and what it connects to: each data service's endpoint, which also
// says what must exist before the migrations run.
type Args struct {
	Config config.PostHog
	// Postgres is where the services connect (PgBouncer, in transaction pooling); Migrations
	// where the migrations Job does (the database itself, verified over TLS on a cloud).
	Postgres   foundation.Postgres
	Migrations foundation.Postgres
	// Fetch is the image that fetches a CA bundle the cloud publishes as a file.
	Fetch         config.Image
	ObjectStorage foundation.ObjectStorage
	// ClickHouse is the cluster Service; ClickHouseCluster its name in remote_servers.
	ClickHouse        kube.Endpoint
	ClickHouseCluster string
	Kafka             kube.Endpoint
	Redis             kube.Endpoint
	Secrets           config.Secrets
	// SkipServiceVersionCheck says why PostHog's start-up version check is off ("" keeps it).
	SkipServiceVersionCheck string
	// AwaitLoadBalancers waits for the Ingress to get an address.
	AwaitLoadBalancers bool
	Edge               Edge
	Placement          kube.Placement
}

// ready is what must exist before the migrations run: every endpoint's.
func (a Args) ready() []pulumi.Resource {
	var out []pulumi.Resource
	for _, r := range [][]pulumi.Resource{a.Postgres.Ready, a.Migrations.Ready, a.ClickHouse.Ready, a.Kafka.Ready, a.Redis.Ready} {
		out = append(out, r...)
	}
	return out
}

// Env is the plain (non-secret) settings every PostHog service reads: Django's and the plugin
// server's, by the names each reads at 1.43.0. PostHog's object storage speaks S3 only: on a
// store that does not, exports and uploads stay off.
func Env(a Args) map[string]string {
	brokers := a.Kafka.Addresses()
	kafkaURLs := make([]string, len(brokers))
	for i, h := range brokers {
		kafkaURLs[i] = "kafka://" + h
	}
	env := map[string]string{
		"SITE_URL":                    "https://" + a.Config.Domain,
		"IS_BEHIND_PROXY":             "true",
		"DISABLE_SECURE_SSL_REDIRECT": "true",
		"CLICKHOUSE_HOST":             a.ClickHouse.Hosts[0],
		"CLICKHOUSE_CLUSTER":          a.ClickHouseCluster,
		"CLICKHOUSE_DATABASE":         clickhouse.Database,
		"CLICKHOUSE_USER":             clickhouse.User,
		// Django defaults CLICKHOUSE_SECURE to true in production; the replicas serve plain
		// native and HTTP ports inside the cluster.
		"CLICKHOUSE_SECURE":      "false",
		"CLICKHOUSE_REPLICATION": "true",
		// Django reads KAFKA_URL (kafka://host:port, comma-separated) and bakes it into the
		// ClickHouse Kafka tables its migrations create; the plugin server reads KAFKA_HOSTS.
		"KAFKA_URL":   strings.Join(kafkaURLs, ","),
		"KAFKA_HOSTS": strings.Join(brokers, ","),
		"REDIS_URL":   fmt.Sprintf("redis://%s/", a.Redis.Addresses()[0]),
		// Behind PgBouncer's transaction pooling Django must not use server-side cursors.
		"USING_PGBOUNCER":         "true",
		"OBJECT_STORAGE_ENABLED":  "true",
		"OBJECT_STORAGE_ENDPOINT": a.ObjectStorage.Endpoint,
		"OBJECT_STORAGE_BUCKET":   a.ObjectStorage.Buckets.Data,
	}
	if a.ObjectStorage.API != config.S3 {
		env["OBJECT_STORAGE_ENABLED"] = "false"
		delete(env, "OBJECT_STORAGE_ENDPOINT")
		delete(env, "OBJECT_STORAGE_BUCKET")
	}
	if a.SkipServiceVersionCheck != "" {
		env["SKIP_SERVICE_VERSION_REQUIREMENTS"] = "1"
	}
	return env
}

// SecretEnv is the secret settings every PostHog service reads: the services' DATABASE_URL
// (PgBouncer's, inside the cluster), and the keys.
func SecretEnv(a Args) pulumi.StringMap {
	secrets := pulumi.StringMap{
		"SECRET_KEY":          a.Secrets.SecretKey,
		"DATABASE_URL":        a.Postgres.URL(url.Values{"sslmode": {a.Postgres.TLS.SSLMode()}}),
		"CLICKHOUSE_PASSWORD": a.Secrets.ClickHousePassword,
	}
	if c := a.ObjectStorage.Credentials; c != nil && a.ObjectStorage.API == config.S3 {
		secrets["OBJECT_STORAGE_ACCESS_KEY_ID"] = c.AccessKey
		secrets["OBJECT_STORAGE_SECRET_ACCESS_KEY"] = c.SecretKey
	}
	return secrets
}

// identity is the service account PostHog's pods run as: its own workload identity, limited to
// the data bucket, where it reaches the bucket through one; the namespace's default where it holds
// a key or has no bucket. Never the backups' identity, which PostHog has no business with.
func identity(store foundation.ObjectStorage) string {
	if store.API != config.S3 || store.Credentials != nil {
		return ""
	}
	return store.DataServiceAccount
}

// MigrationsURL is the migrations' DATABASE_URL: the database itself, with its certificate
// verified where it has one (dj-database-url passes sslmode and sslrootcert to libpq).
func MigrationsURL(pg foundation.Postgres) pulumi.StringOutput {
	query := url.Values{"sslmode": {pg.TLS.SSLMode()}}
	if pg.TLS.Verified() {
		query.Set("sslrootcert", foundation.CAPath)
	}
	return pg.URL(query)
}

// New deploys PostHog.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*App, error) {
	ph, p := args.Config, args.Placement
	app := &App{URL: "https://" + ph.Domain}
	if err := ctx.RegisterComponentResource("posthog-deploy:app:PostHog", name, app, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(app)
	env := Env(args)
	labels := kube.Labels("posthog", nil)
	cm, err := kube.NewConfigMap(ctx, Settings, p.Namespace, labels, pulumi.ToStringMap(env), child)
	if err != nil {
		return nil, err
	}
	secret, err := kube.NewSecret(ctx, Settings, p.Namespace, labels, SecretEnv(args), child)
	if err != nil {
		return nil, err
	}
	direct, err := kube.NewSecret(ctx, Migrations, p.Namespace, labels,
		pulumi.StringMap{"DATABASE_URL": MigrationsURL(args.Migrations)}, child)
	if err != nil {
		return nil, err
	}
	settings := corev1.EnvFromSourceArray{
		corev1.EnvFromSourceArgs{ConfigMapRef: corev1.ConfigMapEnvSourceArgs{Name: pulumi.String(Settings)}},
		corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(Settings)}},
	}
	base := kube.Container{Image: ph.Image, EnvFrom: settings}

	job, err := newMigrations(ctx, ph, args, base, p, child,
		pulumi.DependsOn(append([]pulumi.Resource{cm, secret, direct}, args.ready()...)))
	if err != nil {
		return nil, err
	}
	waitForMigrations := base
	waitForMigrations.Command = []string{"sh", "-c", "until python manage.py migrate --check; do echo waiting for migrations; sleep 5; done"}
	waitForMigrations.Resources = kube.Resources{CPU: "100m", Memory: "512Mi"}

	settingsHash := kube.Hash(fmt.Sprint(sortedPairs(env)))
	for _, svc := range Services(ph) {
		if _, err := kube.NewStateless(ctx, kube.Stateless{
			Name: svc.Name, Min: svc.Scale.Min, Max: svc.Scale.Max,
			Selector:       kube.Labels(svc.Name, nil),
			Container:      svc.Container(base),
			Init:           []kube.Container{waitForMigrations},
			PodAnnotations: pulumi.StringMap{"posthog-deploy/settings-hash": pulumi.String(settingsHash)},
			ServiceAccount: identity(args.ObjectStorage),
		}, p, child, pulumi.DependsOn([]pulumi.Resource{job})); err != nil {
			return nil, err
		}
	}
	if app.Address, err = newIngresses(ctx, ph, args.Edge, args.AwaitLoadBalancers, p, child); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(app, pulumi.Map{"url": pulumi.String(app.URL)}); err != nil {
		return nil, err
	}
	return app, nil
}

// newMigrations runs bin/migrate once per image; every service waits for it, in the engine
// (DependsOn) and in the pod (an init container), since the engine cannot see a Job finish. It
// connects to the database directly, as PostHog's chart did, not through PgBouncer's
// transaction pooling.
func newMigrations(ctx *pulumi.Context, ph config.PostHog, args Args, base kube.Container, p kube.Placement,
	opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	migrate := base
	migrate.Command = []string{"./bin/migrate"}
	migrate.Resources = kube.Resources{CPU: "500m", Memory: "1Gi"}
	migrate.Env = corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("DATABASE_URL"), ValueFrom: corev1.EnvVarSourceArgs{
			SecretKeyRef: corev1.SecretKeySelectorArgs{Name: pulumi.String(Migrations), Key: pulumi.String("DATABASE_URL")}}},
		corev1.EnvVarArgs{Name: pulumi.String("USING_PGBOUNCER"), Value: pulumi.String("false")},
	}
	job := kube.Job{Container: migrate, Selector: kube.Labels(MigrateApp, nil)}
	if volume, fetch, mount := args.Migrations.TLS.CAMount(args.Fetch); volume.Name != "" {
		job.Volumes, job.Init = []kube.Volume{volume}, fetch
		job.Container.Mounts = []kube.Mount{mount}
	}
	return kube.NewJob(ctx, "posthog-migrate-"+kube.Hash(ph.Image.Ref)[:8], job, p, opts...)
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// newIngresses route the domain to the services by path: one Ingress for the app (the UI and
// API, behind the allow-list) and one for capture, open to every client, both on the edge's
// class with the certificate's Secret. cert-manager issues the Secret through the app's Ingress
// only: two Ingresses asking for one Secret would make two Certificates fight over it. It returns
// the load balancer's address from the app Ingress's status.
func newIngresses(ctx *pulumi.Context, ph config.PostHog, edge Edge, await bool, p kube.Placement,
	opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	var tls networkingv1.IngressTLSArray
	switch ph.TLS {
	case config.TLSLetsEncrypt:
		tls = networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{Hosts: pulumi.ToStringArray([]string{ph.Domain}), SecretName: pulumi.String(TLSSecret)}}
	case config.TLSSecret:
		tls = networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{Hosts: pulumi.ToStringArray([]string{ph.Domain}), SecretName: pulumi.String(ph.TLSSecretName)}}
	}
	var class pulumi.StringPtrInput
	if edge.Class != "" {
		class = pulumi.String(edge.Class)
	}
	opts = append(opts, pulumi.DependsOn(edge.Ready))
	var address pulumi.StringOutput
	for _, svc := range Services(ph) {
		if len(svc.Paths) == 0 {
			continue
		}
		annotations := pulumi.StringMap{}
		if !await {
			annotations["pulumi.com/skipAwait"] = pulumi.String("true")
		}
		name := "posthog-capture"
		if svc.Name == "posthog-web" {
			name = "posthog"
			if edge.Issuer != "" {
				annotations["cert-manager.io/cluster-issuer"] = pulumi.String(edge.Issuer)
			}
			if edge.Middleware != "" {
				annotations["traefik.ingress.kubernetes.io/router.middlewares"] = pulumi.String(edge.Middleware)
			}
		}
		var paths networkingv1.HTTPIngressPathArray
		for _, path := range svc.Paths {
			paths = append(paths, networkingv1.HTTPIngressPathArgs{
				Path: pulumi.String(path), PathType: pulumi.String("Prefix"),
				Backend: networkingv1.IngressBackendArgs{Service: networkingv1.IngressServiceBackendArgs{
					Name: pulumi.String(svc.Name), Port: networkingv1.ServiceBackendPortArgs{Name: pulumi.String("http")},
				}},
			})
		}
		ing, err := networkingv1.NewIngress(ctx, name, &networkingv1.IngressArgs{
			Metadata: metav1.ObjectMetaArgs{
				Name: pulumi.String(name), Namespace: p.Namespace,
				Labels: kube.Labels("posthog", nil), Annotations: annotations,
			},
			Spec: networkingv1.IngressSpecArgs{
				IngressClassName: class,
				Tls:              tls,
				Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
					Host: pulumi.String(ph.Domain),
					Http: networkingv1.HTTPIngressRuleValueArgs{Paths: paths},
				}},
			},
		}, opts...)
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		if name == "posthog" {
			address = ing.Status.ApplyT(func(s *networkingv1.IngressStatus) string {
				if s == nil || s.LoadBalancer == nil || len(s.LoadBalancer.Ingress) == 0 {
					return ""
				}
				lb := s.LoadBalancer.Ingress[0]
				if lb.Ip != nil {
					return *lb.Ip
				}
				if lb.Hostname != nil {
					return *lb.Hostname
				}
				return ""
			}).(pulumi.StringOutput)
		}
	}
	return address, nil
}
