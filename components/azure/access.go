package azure

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/config"
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

// Data roles on the buckets' containers (built-in, fixed ids).
const (
	// BlobContributor reads, writes and deletes blobs (deletes are soft: blob soft delete is on).
	BlobContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	// BlobReader reads and lists blobs.
	BlobReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
)

// WorkloadIdentityLabel is what AKS's workload identity webhook looks for on a pod before it
// injects the federated token and the AZURE_* variables azidentity reads.
var WorkloadIdentityLabel = map[string]string{"azure.workload.identity/use": "true"}

// Identity is a user-assigned managed identity, registered by its provider token for the reason
// RoleAssignment is.
type Identity struct {
	pulumi.CustomResourceState
	ClientId    pulumi.StringOutput `pulumi:"clientId"`
	PrincipalId pulumi.StringOutput `pulumi:"principalId"`
}

// newStorageIdentity is the identity the buckets' Kubernetes service account acts as: federated
// with the cluster's OIDC issuer for that one account, a Storage Blob Data Contributor on the
// backups container and a reader of the data container (which the integrity check lists).
func newStorageIdentity(ctx *pulumi.Context, name string, cfg *config.Config, rg, issuer pulumi.StringOutput, containers map[string]pulumi.StringOutput,
	on pulumi.ResourceOption) (*Identity, []pulumi.Resource, error) {
	var id Identity
	if err := ctx.RegisterResource("azure-native:managedidentity:UserAssignedIdentity", "posthog-storage", pulumi.Map{
		"resourceGroupName": rg, "resourceName": pulumi.String(name + "-storage"), "location": pulumi.String(cfg.Region),
	}, &id, on); err != nil {
		return nil, nil, err
	}
	var credential pulumi.CustomResourceState
	if err := ctx.RegisterResource("azure-native:managedidentity:FederatedIdentityCredential", "posthog-storage", pulumi.Map{
		"resourceGroupName": rg, "resourceName": pulumi.String(name + "-storage"),
		"federatedIdentityCredentialResourceName": pulumi.String("posthog-storage"),
		"issuer":    issuer,
		"subject":   pulumi.String(fmt.Sprintf("system:serviceaccount:%s:%s", cfg.Namespace, foundation.StorageAccountName)),
		"audiences": pulumi.ToStringArray([]string{"api://AzureADTokenExchange"}),
	}, &credential, on, pulumi.DependsOn([]pulumi.Resource{&id})); err != nil {
		return nil, nil, err
	}
	ready := []pulumi.Resource{&credential}
	data, backups := cfg.ObjectStore.Buckets()
	for _, g := range []struct{ bucket, role, suffix string }{{backups, BlobContributor, "backups"}, {data, BlobReader, "data"}} {
		r, err := newRoleAssignment(ctx, "posthog-storage-"+g.suffix, id.PrincipalId, g.role, containers[g.bucket], on)
		if err != nil {
			return nil, nil, err
		}
		ready = append(ready, r)
	}
	return &id, ready, nil
}
