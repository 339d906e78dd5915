package azure

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
)

// Built-in Azure roles the stack assigns, by their fixed definition ids.
const (
	// NetworkContributor lets AKS's identity join load balancers and nodes to the stack's own
	// subnet (AKS docs, "customer-managed subnets": without it the first LoadBalancer Service,
	// the ingress controller's, fails).
	NetworkContributor = "4d97b98b-1d4f-4787-a291-c67834d212e7"
)

// AKSServerApp is the Microsoft Entra application AKS's API server accepts tokens for
// (kubelogin-authentication.md: "--server-id 6dae42f8-…").
const AKSServerApp = "6dae42f8-4368-4678-94ff-3960e28e3630"

// RoleAssignment is an Azure RBAC role assignment. The Go SDK module of Microsoft.Authorization
// is not on the Go module proxy at the pinned provider version (v2.88.0: 403, or unknown to the
// checksum database), so the provider's own resource is registered by its token: the same
// resource, without the module's generated types.
type RoleAssignment struct {
	pulumi.CustomResourceState
	PrincipalId pulumi.StringOutput `pulumi:"principalId"`
	Scope       pulumi.StringOutput `pulumi:"scope"`
}

// newRoleAssignment gives principal (a service principal's object id) role on scope.
func newRoleAssignment(ctx *pulumi.Context, name string, principal pulumi.StringInput, role string, scope pulumi.StringOutput,
	opts ...pulumi.ResourceOption) (*RoleAssignment, error) {
	var r RoleAssignment
	definition := scope.ApplyT(func(s string) (string, error) {
		parts := strings.SplitN(strings.TrimPrefix(s, "/"), "/", 3)
		if len(parts) < 2 || parts[0] != "subscriptions" {
			return "", fmt.Errorf("assigning role %s: scope %q is not inside a subscription", role, s)
		}
		return "/subscriptions/" + parts[1] + "/providers/Microsoft.Authorization/roleDefinitions/" + role, nil
	}).(pulumi.StringOutput)
	err := ctx.RegisterResource("azure-native:authorization:RoleAssignment", name, pulumi.Map{
		"principalId":      principal,
		"principalType":    pulumi.String("ServicePrincipal"),
		"roleDefinitionId": definition,
		"scope":            scope,
	}, &r, opts...)
	return &r, err
}

// entraKubeconfig reaches the cluster with a Microsoft Entra token that kubelogin gets from the
// Azure CLI's login (the credentials `pulumi up` uses), for the AKS server application: local
// accounts are off, so there is no certificate to store. The server and its CA come from the
// cluster's user kubeconfig, which holds no secret on such a cluster.
func entraKubeconfig(name string, userKubeconfig pulumi.StringOutput) pulumi.StringOutput {
	endpoint := userKubeconfig.ApplyT(func(v string) (string, error) {
		c, err := clusterOf(name, v)
		return c.Server, err
	}).(pulumi.StringOutput)
	ca := userKubeconfig.ApplyT(func(v string) (string, error) {
		c, err := clusterOf(name, v)
		return c.CA, err
	}).(pulumi.StringOutput)
	return foundation.ExecKubeconfig(name, endpoint, ca, "kubelogin", "get-token", "--login", "azurecli", "--server-id", AKSServerApp)
}

// kubeCluster is a kubeconfig's cluster: its server and CA.
type kubeCluster struct {
	Server string `yaml:"server"`
	CA     string `yaml:"certificate-authority-data"`
}

// clusterOf reads the one cluster of AKS's base64 kubeconfig.
func clusterOf(name, encoded string) (kubeCluster, error) {
	b, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return kubeCluster{}, fmt.Errorf("decoding the AKS kubeconfig of %s: %w", name, err)
	}
	var doc struct {
		Clusters []struct {
			Cluster kubeCluster `yaml:"cluster"`
		} `yaml:"clusters"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Clusters) != 1 || doc.Clusters[0].Cluster.Server == "" {
		return kubeCluster{}, fmt.Errorf("the AKS kubeconfig of %s names no one cluster (%v)", name, err)
	}
	return doc.Clusters[0].Cluster, nil
}
