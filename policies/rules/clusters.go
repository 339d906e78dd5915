package rules

import (
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Managed Kubernetes types, per cloud.
const (
	EKSCluster = "aws:eks/cluster:Cluster"
	GKECluster = "gcp:container/cluster:Cluster"
	AKSCluster = "azure-native:containerservice:ManagedCluster"
)

func clusterRules() []Rule {
	return []Rule{{
		ID: "PH-CL-001", Name: "clusters-secure-by-default",
		Why: "The cluster holds every credential of the platform: EKS must encrypt Secrets with KMS, GKE and AKS " +
			"must give pods workload identity and RBAC rather than node-wide keys.",
		Fix:      "EKS: encryptionConfig with resources [secrets]. GKE: workloadIdentityConfig.workloadPool. AKS: enableRBAC true.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{EKSCluster, GKECluster, AKSCluster},
		Check: func(_ Context, r Resource) []string {
			p := props(r)
			switch r.Type {
			case EKSCluster:
				resources := at(p, "encryptionConfig", "resources")
				if !resources.IsComputed() && !slices.Contains(arrayStrings(resources), "secrets") {
					return []string{"encryptionConfig does not encrypt secrets with KMS"}
				}
			case GKECluster:
				if v := at(p, "workloadIdentityConfig", "workloadPool"); v.IsNull() {
					return []string{"workloadIdentityConfig.workloadPool is not set: pods would use the node's service account"}
				}
			case AKSCluster:
				if v := at(p, "enableRBAC"); isFalse(v) {
					return []string{"enableRBAC is false"}
				}
			}
			return nil
		},
		Pass: []Fixture{
			{Name: "EKS", Resources: []Resource{res(EKSCluster, "eks", map[string]any{"encryptionConfig": map[string]any{"resources": []any{"secrets"}, "provider": map[string]any{"keyArn": unknown}}})}},
			{Name: "GKE", Resources: []Resource{res(GKECluster, "gke", map[string]any{"workloadIdentityConfig": map[string]any{"workloadPool": "p.svc.id.goog"}})}},
			{Name: "AKS", Resources: []Resource{res(AKSCluster, "aks", map[string]any{"enableRBAC": true})}},
		},
		Fail: []Fixture{
			{Name: "EKS", Resources: []Resource{res(EKSCluster, "eks", map[string]any{})}},
			{Name: "GKE", Resources: []Resource{res(GKECluster, "gke", map[string]any{})}},
			{Name: "AKS", Resources: []Resource{res(AKSCluster, "aks", map[string]any{"enableRBAC": false})}},
		},
	}, {
		ID: "PH-CL-002", Name: "eks-api-not-open-to-the-world",
		Why:      "In prod an EKS API endpoint reachable from 0.0.0.0/0 is one leaked token away from the whole platform.",
		Fix:      "Set vpcConfig.endpointPublicAccess false (with endpointPrivateAccess true), or publicAccessCidrs to your networks.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{EKSCluster},
		Check: func(ctx Context, r Resource) []string {
			if ctx.Environment == "dev" || ctx.Environment == "staging" {
				return nil
			}
			vpc := at(props(r), "vpcConfig")
			public := at(vpc, "endpointPublicAccess")
			if isFalse(public) || public.IsComputed() {
				return nil
			}
			cidrs := at(vpc, "publicAccessCidrs")
			if cidrs.IsComputed() {
				return nil
			}
			if list := arrayStrings(cidrs); len(list) == 0 || slices.Contains(list, "0.0.0.0/0") {
				return []string{"the API endpoint is public to 0.0.0.0/0 in prod"}
			}
			return nil
		},
		Pass: []Fixture{{Name: "private", Context: Context{Environment: "prod"}, Resources: []Resource{res(EKSCluster, "eks", map[string]any{"vpcConfig": map[string]any{"endpointPublicAccess": false}})}},
			{Name: "restricted", Context: Context{Environment: "prod"}, Resources: []Resource{res(EKSCluster, "eks", map[string]any{"vpcConfig": map[string]any{"publicAccessCidrs": []any{"203.0.113.0/24"}}})}}},
		Fail: []Fixture{{Name: "default public", Context: Context{Environment: "prod"}, Resources: []Resource{res(EKSCluster, "eks", map[string]any{"vpcConfig": map[string]any{}})}}},
	}}
}

// arrayStrings are the known strings of an array value.
func arrayStrings(v property.Value) []string {
	var out []string
	if v.IsArray() {
		for _, e := range v.AsArray().All {
			if s, ok := str(e); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
