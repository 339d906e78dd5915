package rules

import (
	"fmt"

	"github.com/posthog-deploy/posthog-deploy/config"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Stateful are the types whose deletion loses data (config.DataTypes): the cluster's volumes,
// stateful workloads and namespace, and each cloud's databases, buckets and what holds them.
var Stateful = config.DataTypes()

func stackRules() []Rule {
	return []Rule{{
		ID: "PH-ST-001", Name: "stateful-resources-protected",
		Why:      "In staging and prod a `pulumi destroy`, a rename or a replacement must never delete data silently; protect makes the engine refuse.",
		Fix:      "Deploy with posthog-deploy:environment staging or prod (the program protects stateful resources there), or set the protect option.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: Stateful,
		Check: func(ctx Context, r Resource) []string {
			if !ctx.HA() || r.Protect {
				return nil
			}
			return []string{fmt.Sprintf("%s %s is not protected in %s", r.Type, r.Name, envName(ctx))}
		},
		Pass: []Fixture{
			{Name: "protected", Context: Context{Environment: "prod"}, Resources: []Resource{protected(zkSet(3))}},
			{Name: "KMS key and resource group protected", Context: Context{Environment: "prod"},
				Resources: []Resource{protected(res("aws:kms/key:Key", "k", nil)), protected(res("azure-native:resources:ResourceGroup", "rg", nil))}},
			{Name: "dev", Context: Context{Environment: "dev"}, Resources: []Resource{zkSet(1)}},
		},
		Fail: []Fixture{{Name: "unprotected", Context: Context{Environment: "staging"}, Resources: []Resource{zkSet(3)}},
			// The key that encrypts RDS and the cluster's Secrets; the group that holds Azure's data.
			{Name: "KMS key unprotected", Context: Context{Environment: "prod", Cloud: "aws"}, Resources: []Resource{res("aws:kms/key:Key", "k", nil)}},
			{Name: "resource group unprotected", Context: Context{Environment: "prod", Cloud: "azure"},
				Resources: []Resource{res("azure-native:resources:ResourceGroup", "rg", nil)}}},
	}}
}

func protected(r Resource) Resource {
	r.Protect = true
	return r
}
