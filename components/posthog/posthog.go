// Package posthog deploys the PostHog application onto the data plane: its settings as a
// ConfigMap and a Secret, the web service with its autoscaler and budget, and the Ingress.
package posthog

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/clickhouse"
	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Names of the objects every PostHog service reads its settings from, and of the web service.
const (
	Settings = "posthog"
	Web      = "posthog-web"
	WebPort  = 8000
	// TLSSecret is where the Ingress expects its certificate (from cert-manager or by hand).
	TLSSecret = "posthog-tls"
)

// App is the deployed PostHog.
type App struct {
	pulumi.ResourceState
	// URL is where users reach PostHog.
	URL string
}

// Args is what PostHog connects to.
type Args struct {
	Postgres   foundation.Postgres
	ClickHouse *clickhouse.Cluster
	Secrets    config.Secrets
	// AwaitLoadBalancers waits for the Ingress to get an address.
	AwaitLoadBalancers bool
}

// Env is the plain (non-secret) settings every PostHog service reads.
func Env(ph config.PostHog, ch clickhouse.Topology, chHost string) map[string]string {
	return map[string]string{
		"SITE_URL":                    "https://" + ph.Domain,
		"IS_BEHIND_PROXY":             "true",
		"DISABLE_SECURE_SSL_REDIRECT": "true",
		"CLICKHOUSE_HOST":             chHost,
		"CLICKHOUSE_CLUSTER":          ch.Cluster,
		"CLICKHOUSE_DATABASE":         clickhouse.Database,
		"CLICKHOUSE_USER":             clickhouse.User,
		"CLICKHOUSE_SECURE":           "false",
		"CLICKHOUSE_VERIFY":           "false",
		"CLICKHOUSE_REPLICATION":      "true",
	}
}

// New deploys PostHog.
func New(ctx *pulumi.Context, ph config.PostHog, args Args, p kube.Placement, opts ...pulumi.ResourceOption) (*App, error) {
	app := &App{URL: "https://" + ph.Domain}
	if err := ctx.RegisterComponentResource("posthog-deploy:app:PostHog", "posthog", app, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(app)
	env := Env(ph, args.ClickHouse.Topology, args.ClickHouse.Host)
	labels := kube.Labels("posthog", nil)
	if _, err := corev1.NewConfigMap(ctx, Settings, &corev1.ConfigMapArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(Settings), Namespace: p.Namespace, Labels: labels},
		Data:     pulumi.ToStringMap(env),
	}, child); err != nil {
		return nil, err
	}
	if _, err := corev1.NewSecret(ctx, Settings, &corev1.SecretArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(Settings), Namespace: p.Namespace, Labels: labels},
		StringData: pulumi.StringMap{
			"SECRET_KEY":          args.Secrets.SecretKey,
			"DATABASE_URL":        args.Postgres.URL(),
			"CLICKHOUSE_PASSWORD": args.Secrets.ClickHousePassword,
		},
	}, child); err != nil {
		return nil, err
	}
	settings := corev1.EnvFromSourceArray{
		corev1.EnvFromSourceArgs{ConfigMapRef: corev1.ConfigMapEnvSourceArgs{Name: pulumi.String(Settings)}},
		corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(Settings)}},
	}
	if _, err := kube.NewStateless(ctx, kube.Stateless{
		Name: Web, Min: ph.Web.Min, Max: ph.Web.Max,
		Selector: kube.Labels(Web, nil),
		Container: kube.Container{
			Image:     ph.Image,
			Command:   []string{"./bin/docker-server"},
			EnvFrom:   settings,
			Ports:     []kube.Port{{Name: "http", Port: WebPort}},
			Resources: kube.Resources{CPU: "500m", Memory: "1Gi"},
			Readiness: kube.HTTPProbe("/_readyz", "http", 10),
			Liveness:  kube.HTTPProbe("/_livez", "http", 20),
		},
		PodAnnotations: pulumi.StringMap{"posthog-deploy/settings-hash": pulumi.String(kube.Hash(fmt.Sprint(env)))},
	}, p, child); err != nil {
		return nil, err
	}
	if err := newIngress(ctx, ph.Domain, args.AwaitLoadBalancers, p, child); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(app, pulumi.Map{"url": pulumi.String(app.URL)}); err != nil {
		return nil, err
	}
	return app, nil
}

// newIngress routes the domain to the web service, with TLS from TLSSecret.
func newIngress(ctx *pulumi.Context, domain string, await bool, p kube.Placement, opts ...pulumi.ResourceOption) error {
	annotations := pulumi.StringMap{}
	if !await {
		annotations["pulumi.com/skipAwait"] = pulumi.String("true")
	}
	_, err := networkingv1.NewIngress(ctx, "posthog", &networkingv1.IngressArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name: pulumi.String("posthog"), Namespace: p.Namespace,
			Labels: kube.Labels("posthog", nil), Annotations: annotations,
		},
		Spec: networkingv1.IngressSpecArgs{
			Tls: networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{
				Hosts: pulumi.ToStringArray([]string{domain}), SecretName: pulumi.String(TLSSecret),
			}},
			Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
				Host: pulumi.String(domain),
				Http: networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{
					networkingv1.HTTPIngressPathArgs{
						Path: pulumi.String("/"), PathType: pulumi.String("Prefix"),
						Backend: networkingv1.IngressBackendArgs{Service: networkingv1.IngressServiceBackendArgs{
							Name: pulumi.String(Web), Port: networkingv1.ServiceBackendPortArgs{Name: pulumi.String("http")},
						}},
					},
				}},
			}},
		},
	}, opts...)
	return err
}
