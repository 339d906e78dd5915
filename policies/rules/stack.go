package rules

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Stateful are the types whose deletion loses data: the cluster's stateful workloads and their
// namespace, and each cloud's databases and buckets.
var Stateful = []string{StatefulSet, PVC, Namespace, RDSInstance, CloudSQL, AzurePostgres, DODatabase,
	S3Bucket, GCSBucket, SpacesBucket, AzureStorageAccount, AzureBlobContainer}

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
			{Name: "dev", Context: Context{Environment: "dev"}, Resources: []Resource{zkSet(1)}},
		},
		Fail: []Fixture{{Name: "unprotected", Context: Context{Environment: "staging"}, Resources: []Resource{zkSet(3)}}},
	}}
}

func protected(r Resource) Resource {
	r.Protect = true
	return r
}
