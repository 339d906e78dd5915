// Package edge is how a cloud stack is reached from the internet: Traefik as the ingress
// controller behind the cloud's load balancer, cert-manager with a Let's Encrypt ClusterIssuer
// that issues the domain's certificate over HTTP-01, and the source-range allow-list of the app.
// The local stack has no edge: its control plane has no load balancer.
package edge

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Class is the IngressClass Traefik serves; AllowList the Middleware that admits the app's
// source ranges.
const (
	Class     = "traefik"
	AllowList = "posthog-allowlist"
)

// Args are PostHog's TLS and allow-list settings, the environment (replicas) and where PostHog runs.
type Args struct {
	Config      config.PostHog
	Environment config.Environment
	// LoadBalancer are the cloud's annotations of the controller's Service (config.CloudFacts).
	LoadBalancer map[string]string
	Placement    kube.Placement
}

// Edge is what PostHog's Ingresses name: the class, the ClusterIssuer ("" unless Let's
// Encrypt issues the certificate), the allow-list Middleware reference ("" when everyone may
// reach the app), and what must exist before the Ingresses.
type Edge struct {
	pulumi.ResourceState
	Class, Issuer, Middleware string
	Ready                     []pulumi.Resource
}

// New installs the controller and, with Let's Encrypt, cert-manager and its issuer.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Edge, error) {
	e := &Edge{Class: Class}
	if err := ctx.RegisterComponentResource("posthog-deploy:edge:Edge", name, e, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(e)
	ph := args.Config
	replicas := 1
	if args.Environment != config.Dev {
		replicas = 2
	}
	traefik, err := helmv3.NewRelease(ctx, "traefik", &helmv3.ReleaseArgs{
		Name: pulumi.String("traefik"), Namespace: pulumi.String("traefik"), CreateNamespace: pulumi.Bool(true),
		Chart: pulumi.String(config.Traefik.Name), Version: pulumi.String(config.Traefik.Version),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(config.Traefik.Repo)},
		Values: pulumi.Map{
			// Named explicitly: the chart's default is the release's full name.
			"ingressClass": pulumi.Map{"enabled": pulumi.Bool(true), "isDefaultClass": pulumi.Bool(false), "name": pulumi.String(Class)},
			// Ingress status carries the load balancer's address, which the stack outputs.
			"providers": pulumi.Map{"kubernetesIngress": pulumi.Map{"enabled": pulumi.Bool(true),
				"publishedService": pulumi.Map{"enabled": pulumi.Bool(true)}}},
			// Local: the allow-list sees the client's address, not a node's.
			"service": pulumi.Map{"spec": pulumi.Map{"externalTrafficPolicy": pulumi.String("Local")},
				"annotations": pulumi.ToStringMap(args.LoadBalancer)},
			"deployment": pulumi.Map{"replicas": pulumi.Int(replicas)},
			"ports": pulumi.Map{"web": pulumi.Map{
				"http": pulumi.Map{"redirections": pulumi.Map{"entryPoint": pulumi.Map{
					"to": pulumi.String("websecure"), "scheme": pulumi.String("https"), "permanent": pulumi.Bool(true)}}},
				// Let's Encrypt's HTTP-01 challenge must not be redirected.
				"allowACMEByPass": pulumi.Bool(true),
			}},
		},
	}, child)
	if err != nil {
		return nil, err
	}
	e.Ready = append(e.Ready, traefik)

	if ph.TLS == config.TLSLetsEncrypt {
		certManager, err := helmv3.NewRelease(ctx, "cert-manager", &helmv3.ReleaseArgs{
			Name: pulumi.String("cert-manager"), Namespace: pulumi.String("cert-manager"), CreateNamespace: pulumi.Bool(true),
			Chart: pulumi.String(config.CertManager.Name), Version: pulumi.String(config.CertManager.Version),
			RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(config.CertManager.Repo)},
			// The CRDs with the chart, and kept when it is uninstalled (certificates survive).
			Values: pulumi.Map{"crds": pulumi.Map{"enabled": pulumi.Bool(true), "keep": pulumi.Bool(true)}},
		}, child)
		if err != nil {
			return nil, err
		}
		server := config.LetsEncrypt
		e.Issuer = "letsencrypt"
		if ph.ACMEStaging {
			e.Issuer, server = "letsencrypt-staging", config.LetsEncryptStaging
		}
		issuer, err := apiextensions.NewCustomResource(ctx, e.Issuer, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("cert-manager.io/v1"), Kind: pulumi.String("ClusterIssuer"),
			Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(e.Issuer)},
			OtherFields: map[string]any{"spec": map[string]any{"acme": map[string]any{
				"server": server, "email": ph.ACMEEmail,
				"privateKeySecretRef": map[string]any{"name": e.Issuer + "-account"},
				"solvers":             []any{map[string]any{"http01": map[string]any{"ingress": map[string]any{"ingressClassName": Class}}}},
			}}},
		}, child, pulumi.DependsOn([]pulumi.Resource{certManager}))
		if err != nil {
			return nil, err
		}
		e.Ready = append(e.Ready, issuer)
	}

	if !ph.AppOpenToAll() {
		mw, err := apiextensions.NewCustomResource(ctx, AllowList, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("traefik.io/v1alpha1"), Kind: pulumi.String("Middleware"),
			Metadata:    metav1.ObjectMetaArgs{Name: pulumi.String(AllowList), Namespace: args.Placement.Namespace},
			OtherFields: map[string]any{"spec": map[string]any{"ipAllowList": map[string]any{"sourceRange": ph.AllowedSourceRanges}}},
		}, child, pulumi.DependsOn([]pulumi.Resource{traefik}))
		if err != nil {
			return nil, err
		}
		// Traefik's name for a Kubernetes CRD middleware: <namespace>-<name>@kubernetescrd.
		e.Middleware = args.Placement.NamespaceName + "-" + AllowList + "@kubernetescrd"
		e.Ready = append(e.Ready, mw)
	}
	return e, ctx.RegisterResourceOutputs(e, pulumi.Map{"class": pulumi.String(Class), "issuer": pulumi.String(e.Issuer)})
}
