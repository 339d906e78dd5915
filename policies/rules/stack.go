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
	}, {
		ID: "PH-ST-002", Name: "data-disposable-in-dev-only",
		Why: "A dev stack is torn down whole, so its buckets are force-destroyed and its volumes deleted with their " +
			"claims. Anywhere else the same settings turn a `pulumi destroy`, a rename or a deleted claim into the " +
			"loss of every object version or of a replica's disk.",
		Fix: "Outside dev, leave forceDestroy false on buckets and reclaimPolicy Retain on storage classes (the program " +
			"sets both from posthog-deploy:environment).",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory,
		Types: []string{S3Bucket, GCSBucket, SpacesBucket, StorageClass},
		Check: func(ctx Context, r Resource) []string {
			if !ctx.HA() {
				return nil
			}
			if r.Type == StorageClass {
				if policy, ok := str(at(props(r), "reclaimPolicy")); ok && policy != "Retain" {
					return []string{fmt.Sprintf("storage class %s deletes volumes with their claims (reclaimPolicy %s) in %s", r.Name, policy, envName(ctx))}
				}
				if at(props(r), "reclaimPolicy").IsNull() {
					return []string{fmt.Sprintf("storage class %s deletes volumes with their claims (Kubernetes' default reclaimPolicy) in %s", r.Name, envName(ctx))}
				}
				return nil
			}
			if isTrue(at(props(r), "forceDestroy")) {
				return []string{fmt.Sprintf("bucket %s is force-destroyed with its objects and versions in %s", r.Name, envName(ctx))}
			}
			return nil
		},
		Pass: []Fixture{
			{Name: "kept in prod", Context: Context{Environment: "prod"}, Resources: []Resource{
				res(S3Bucket, "b", map[string]any{"forceDestroy": false}), res(StorageClass, "posthog-data", map[string]any{"reclaimPolicy": "Retain"})}},
			{Name: "disposable in dev", Context: Context{Environment: "dev"}, Resources: []Resource{
				res(GCSBucket, "b", map[string]any{"forceDestroy": true}), res(StorageClass, "posthog-data", map[string]any{"reclaimPolicy": "Delete"})}},
		},
		Fail: []Fixture{
			{Name: "force-destroyed bucket in staging", Context: Context{Environment: "staging"}, Resources: []Resource{res(SpacesBucket, "b", map[string]any{"forceDestroy": true})}},
			{Name: "volumes deleted in prod", Context: Context{Environment: "prod"}, Resources: []Resource{res(StorageClass, "posthog-data", map[string]any{"reclaimPolicy": "Delete"})}},
			{Name: "default reclaim in prod", Context: Context{Environment: "prod"}, Resources: []Resource{res(StorageClass, "posthog-data", map[string]any{"provisioner": "ebs.csi.aws.com"})}},
		},
	}}
}

func protected(r Resource) Resource {
	r.Protect = true
	return r
}
