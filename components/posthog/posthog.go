// Package posthog deploys the PostHog application onto the data plane: its settings as a
// ConfigMap and a Secret, the migrations Job, the web, events (capture), plugin-server and
// worker services with autoscalers and budgets, and the Ingress.
package posthog

import (
	"fmt"
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

// Settings names the ConfigMap and Secret every PostHog service reads its settings from.
const (
	Settings = "posthog"
	// TLSSecret is where the Ingress expects its certificate (from cert-manager or by hand).
	TLSSecret = "posthog-tls"
	httpPort  = 8000
)

// Service is one PostHog service: a Deployment of the PostHog image running Command.
type Service struct {
	Name    string
	Command []string
	// Port is served over HTTP with the Health paths; 0 for a service with no port (worker).
	Port      int
	Ready     string
	Live      string
	Scale     config.Scale
	Resources kube.Resources
	// Paths are the Ingress paths routed to this service.
	Paths []string
}

// Services lays out PostHog's services for the stack's sizes. Capture paths go to the events
// service, so a surge of events never starves the app.
func Services(ph config.PostHog) []Service {
	return []Service{
		{Name: "posthog-web", Command: []string{"./bin/docker-server"}, Port: httpPort, Ready: "/_readyz", Live: "/_livez",
			Scale: ph.Web, Resources: kube.Resources{CPU: "500m", Memory: "1Gi"}, Paths: []string{"/"}},
		{Name: "posthog-events", Command: []string{"./bin/docker-server"}, Port: httpPort, Ready: "/_readyz", Live: "/_livez",
			Scale: ph.Events, Resources: kube.Resources{CPU: "500m", Memory: "1Gi"},
			Paths: []string{"/e", "/capture", "/batch", "/decide", "/track", "/engage", "/s"}},
		{Name: "posthog-plugins", Command: []string{"./bin/plugin-server"}, Port: 6738, Ready: "/_ready", Live: "/_health",
			Scale: ph.Plugins, Resources: kube.Resources{CPU: "500m", Memory: "1Gi"}},
		{Name: "posthog-worker", Command: []string{"./bin/docker-worker-celery", "--with-scheduler"},
			Scale: config.Scale{Min: ph.Workers, Max: ph.Workers}, Resources: kube.Resources{CPU: "500m", Memory: "1Gi"}},
	}
}

// App is the deployed PostHog.
type App struct {
	pulumi.ResourceState
	// URL is where users reach PostHog.
	URL string
}

// Args is what PostHog connects to.
type Args struct {
	Postgres      foundation.Postgres
	ObjectStorage foundation.ObjectStorage
	ClickHouse    *clickhouse.Cluster
	KafkaHosts    []string
	RedisURL      string
	Secrets       config.Secrets
	// AwaitLoadBalancers waits for the Ingress to get an address.
	AwaitLoadBalancers bool
	// DependsOn are what must exist before the migrations run (the data services, the topics).
	DependsOn []pulumi.Resource
}

// Env is the plain (non-secret) settings every PostHog service reads. PostHog's object storage
// speaks S3 only: on a store that does not, recordings and exports stay in ClickHouse and Postgres.
func Env(ph config.PostHog, a Args) map[string]string {
	env := map[string]string{
		"SITE_URL":                    "https://" + ph.Domain,
		"IS_BEHIND_PROXY":             "true",
		"DISABLE_SECURE_SSL_REDIRECT": "true",
		"CLICKHOUSE_HOST":             a.ClickHouse.Host,
		"CLICKHOUSE_CLUSTER":          a.ClickHouse.Topology.Cluster,
		"CLICKHOUSE_DATABASE":         clickhouse.Database,
		"CLICKHOUSE_USER":             clickhouse.User,
		"CLICKHOUSE_SECURE":           "false",
		"CLICKHOUSE_VERIFY":           "false",
		"CLICKHOUSE_REPLICATION":      "true",
		"KAFKA_HOSTS":                 strings.Join(a.KafkaHosts, ","),
		"REDIS_URL":                   a.RedisURL,
		"OBJECT_STORAGE_ENABLED":      "true",
		"OBJECT_STORAGE_ENDPOINT":     a.ObjectStorage.Endpoint,
		"OBJECT_STORAGE_REGION":       a.ObjectStorage.Region,
		"OBJECT_STORAGE_BUCKET":       a.ObjectStorage.Buckets.Data,
	}
	if a.ObjectStorage.API != foundation.S3 {
		env["OBJECT_STORAGE_ENABLED"] = "false"
		for _, k := range []string{"OBJECT_STORAGE_ENDPOINT", "OBJECT_STORAGE_REGION", "OBJECT_STORAGE_BUCKET"} {
			delete(env, k)
		}
	}
	return env
}

// New deploys PostHog.
func New(ctx *pulumi.Context, ph config.PostHog, args Args, p kube.Placement, opts ...pulumi.ResourceOption) (*App, error) {
	app := &App{URL: "https://" + ph.Domain}
	if err := ctx.RegisterComponentResource("posthog-deploy:app:PostHog", "posthog", app, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(app)
	env := Env(ph, args)
	labels := kube.Labels("posthog", nil)
	cm, err := kube.NewConfigMap(ctx, Settings, p.Namespace, labels, pulumi.ToStringMap(env), child)
	if err != nil {
		return nil, err
	}
	secrets := pulumi.StringMap{
		"SECRET_KEY":          args.Secrets.SecretKey,
		"DATABASE_URL":        args.Postgres.URL(),
		"CLICKHOUSE_PASSWORD": args.Secrets.ClickHousePassword,
	}
	if c := args.ObjectStorage.Credentials; c != nil && args.ObjectStorage.API == foundation.S3 {
		secrets["OBJECT_STORAGE_ACCESS_KEY_ID"] = c.AccessKey
		secrets["OBJECT_STORAGE_SECRET_ACCESS_KEY"] = c.SecretKey
	}
	secret, err := kube.NewSecret(ctx, Settings, p.Namespace, labels, secrets, child)
	if err != nil {
		return nil, err
	}
	settings := corev1.EnvFromSourceArray{
		corev1.EnvFromSourceArgs{ConfigMapRef: corev1.ConfigMapEnvSourceArgs{Name: pulumi.String(Settings)}},
		corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(Settings)}},
	}
	base := kube.Container{Image: ph.Image, EnvFrom: settings}

	// Migrations run once per image; every service waits for them, in the engine (DependsOn)
	// and in the pod (an init container), since the engine cannot see a Job finish.
	migrate := base
	migrate.Command = []string{"./bin/migrate"}
	migrate.Resources = kube.Resources{CPU: "500m", Memory: "1Gi"}
	job, err := kube.NewJob(ctx, "posthog-migrate-"+kube.Hash(ph.Image)[:8], kube.Job{
		Container: migrate, Selector: kube.Labels("posthog-migrate", nil),
	}, p, child, pulumi.DependsOn(append([]pulumi.Resource{cm, secret}, args.DependsOn...)))
	if err != nil {
		return nil, err
	}
	waitForMigrations := base
	waitForMigrations.Command = []string{"sh", "-c", "until python manage.py migrate --check; do echo waiting for migrations; sleep 5; done"}
	waitForMigrations.Resources = kube.Resources{CPU: "100m", Memory: "256Mi"}

	settingsHash := kube.Hash(fmt.Sprint(sortedPairs(env)))
	for _, svc := range Services(ph) {
		c := base
		c.Command = svc.Command
		c.Resources = svc.Resources
		if svc.Port != 0 {
			c.Ports = []kube.Port{{Name: "http", Port: svc.Port}}
			c.Readiness = kube.HTTPProbe(svc.Ready, "http", 10)
			c.Liveness = kube.HTTPProbe(svc.Live, "http", 20)
		} else {
			c.Readiness = kube.ExecProbe(60, "sh", "-c", "celery -A posthog inspect ping -d celery@$HOSTNAME")
			c.Liveness = c.Readiness
		}
		if _, err := kube.NewStateless(ctx, kube.Stateless{
			Name: svc.Name, Min: svc.Scale.Min, Max: svc.Scale.Max,
			Selector:       kube.Labels(svc.Name, nil),
			Container:      c,
			Init:           []kube.Container{waitForMigrations},
			PodAnnotations: pulumi.StringMap{"posthog-deploy/settings-hash": pulumi.String(settingsHash)},
			ServiceAccount: args.ObjectStorage.ServiceAccount,
		}, p, child, pulumi.DependsOn([]pulumi.Resource{job})); err != nil {
			return nil, err
		}
	}
	if err := newIngress(ctx, ph, args.AwaitLoadBalancers, p, child); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(app, pulumi.Map{"url": pulumi.String(app.URL)}); err != nil {
		return nil, err
	}
	return app, nil
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// newIngress routes the domain to the services by path, with TLS from TLSSecret.
func newIngress(ctx *pulumi.Context, ph config.PostHog, await bool, p kube.Placement, opts ...pulumi.ResourceOption) error {
	annotations := pulumi.StringMap{}
	if !await {
		annotations["pulumi.com/skipAwait"] = pulumi.String("true")
	}
	var paths networkingv1.HTTPIngressPathArray
	for _, svc := range Services(ph) {
		for _, path := range svc.Paths {
			paths = append(paths, networkingv1.HTTPIngressPathArgs{
				Path: pulumi.String(path), PathType: pulumi.String("Prefix"),
				Backend: networkingv1.IngressBackendArgs{Service: networkingv1.IngressServiceBackendArgs{
					Name: pulumi.String(svc.Name), Port: networkingv1.ServiceBackendPortArgs{Name: pulumi.String("http")},
				}},
			})
		}
	}
	_, err := networkingv1.NewIngress(ctx, "posthog", &networkingv1.IngressArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name: pulumi.String("posthog"), Namespace: p.Namespace,
			Labels: kube.Labels("posthog", nil), Annotations: annotations,
		},
		Spec: networkingv1.IngressSpecArgs{
			Tls: networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{
				Hosts: pulumi.ToStringArray([]string{ph.Domain}), SecretName: pulumi.String(TLSSecret),
			}},
			Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
				Host: pulumi.String(ph.Domain),
				Http: networkingv1.HTTPIngressRuleValueArgs{Paths: paths},
			}},
		},
	}, opts...)
	return err
}
