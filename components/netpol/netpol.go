// Package netpol isolates the platform's pods from each other: a default deny of ingress in the
// namespace, then for each service the workloads that may connect to it, so that ClickHouse,
// Kafka, ZooKeeper, Redis, PgBouncer and the in-cluster stand-ins accept only their clients.
//
// Egress stays open: PostHog, ClickHouse's object disk and the backups reach the cloud's
// endpoints (S3, GCS, Blob, the managed database), whose addresses are not stable ranges. The
// kubelet's probes are not subject to NetworkPolicy.
package netpol

import (
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// Access says who may connect to one service: the pods whose app label is Service admit the
// pods whose app label is one of Clients; a Public service admits anyone (PostHog's web and
// capture, served to the internet through the ingress controller).
type Access struct {
	Service string
	Clients []string
	Public  bool
	// Labels select the service's pods instead of its app label (pods another controller
	// makes, such as cert-manager's HTTP-01 solvers).
	Labels map[string]string
	// ScrapePorts are the named ports that pods of the Scrapers namespace (Prometheus) may reach.
	ScrapePorts []string
}

// Args are the accesses to allow; every other connection into the namespace is denied.
type Args struct {
	Access []Access
	// Scrapers is the namespace Prometheus scrapes from ("" when nothing is scraped).
	Scrapers  string
	Placement kube.Placement
}

// NetworkPolicies is the namespace's default deny and one policy per service.
type NetworkPolicies struct {
	pulumi.ResourceState
}

// DenyAll names the default-deny policy.
const DenyAll = "default-deny-ingress"

// New creates the policies.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*NetworkPolicies, error) {
	n := &NetworkPolicies{}
	if err := ctx.RegisterComponentResource("posthog-deploy:kube:NetworkPolicies", name, n, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(n)
	ns := args.Placement.Namespace
	ingress := pulumi.ToStringArray(ingressOnly)
	if _, err := networkingv1.NewNetworkPolicy(ctx, DenyAll, &networkingv1.NetworkPolicyArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(DenyAll), Namespace: ns, Labels: kube.Labels(DenyAll, nil)},
		Spec:     networkingv1.NetworkPolicySpecArgs{PodSelector: metav1.LabelSelectorArgs{}, PolicyTypes: ingress},
	}, child); err != nil {
		return nil, err
	}
	for _, a := range args.Access {
		rule := networkingv1.NetworkPolicyIngressRuleArgs{} // from anywhere
		if !a.Public {
			rule.From = networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
				PodSelector: metav1.LabelSelectorArgs{MatchExpressions: metav1.LabelSelectorRequirementArray{
					metav1.LabelSelectorRequirementArgs{Key: pulumi.String(labels.App), Operator: pulumi.String("In"),
						Values: pulumi.ToStringArray(a.Clients)},
				}},
			}}
		}
		if len(a.ScrapePorts) > 0 && args.Scrapers != "" {
			var ports networkingv1.NetworkPolicyPortArray
			for _, port := range a.ScrapePorts {
				ports = append(ports, networkingv1.NetworkPolicyPortArgs{Port: pulumi.String(port)})
			}
			rule := networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: metav1.LabelSelectorArgs{
					MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(args.Scrapers)}}}},
				Ports: ports,
			}
			if err := allow(ctx, "allow-metrics-"+a.Service, ns, a, rule, child); err != nil {
				return nil, err
			}
		}
		if !a.Public && len(a.Clients) == 0 {
			continue // only scraped
		}
		if err := allow(ctx, "allow-"+a.Service, ns, a, rule, child); err != nil {
			return nil, err
		}
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{})
}

var ingressOnly = []string{"Ingress"}

// allow admits rule's traffic to a's pods, in a policy of its own.
func allow(ctx *pulumi.Context, name string, ns pulumi.StringInput, a Access, rule networkingv1.NetworkPolicyIngressRuleArgs, opts ...pulumi.ResourceOption) error {
	_, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: ns, Labels: kube.Labels(a.Service, nil)},
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{MatchLabels: selector(a)},
			PolicyTypes: pulumi.ToStringArray(ingressOnly),
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{rule},
		},
	}, opts...)
	return err
}

func selector(a Access) pulumi.StringMap {
	if a.Labels != nil {
		return pulumi.ToStringMap(a.Labels)
	}
	return pulumi.StringMap{labels.App: pulumi.String(a.Service)}
}
