package rules

import (
	"context"
	"fmt"
	"slices"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// PackName and PackVersion identify the pack to the engine.
const PackName = "posthog-deploy"

// PackVersion is bumped with any rule change.
var PackVersion = semver.MustParse("0.1.0")

// Pack is the policy pack the engine runs, for a stack of the given environment.
func Pack(stack Context) (policyx.PolicyPack, error) {
	var policies []policyx.Policy
	for _, r := range All() {
		desc := fmt.Sprintf("%s: %s Fix: %s", r.ID, r.Why, r.Fix)
		if r.CheckStack != nil {
			policies = append(policies, policyx.NewStackValidationPolicy(r.Name, policyx.StackValidationPolicyArgs{
				Description: desc, EnforcementLevel: r.Enforcement,
				ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
					rs := make([]Resource, len(args.Resources))
					for i, a := range args.Resources {
						rs[i] = fromAnalyzer(a)
					}
					for _, v := range r.CheckStack(stack, rs) {
						args.Manager.ReportViolation(v.Message, v.URN)
					}
					return nil
				},
			}))
			continue
		}
		policies = append(policies, policyx.NewResourceValidationPolicy(r.Name, policyx.ResourceValidationPolicyArgs{
			Description: desc, EnforcementLevel: r.Enforcement, ConfigSchema: r.Config,
			ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
				res := fromAnalyzer(args.Resource)
				if !slices.Contains(r.Types, res.Type) {
					return nil
				}
				ctx := stack
				ctx.AllowExperimental = stringsOf(args.Config["allowExperimental"])
				for _, m := range r.Check(ctx, res) {
					args.Manager.ReportViolation(m, "")
				}
				return nil
			},
		}))
	}
	return policyx.NewPolicyPack(PackName, PackVersion, policyx.EnforcementLevelMandatory, policies)
}

func fromAnalyzer(a policyx.AnalyzerResource) Resource {
	return Resource{Type: a.Type, Name: a.Name, URN: a.URN, Props: a.Properties, Protect: a.Options.Protect,
		PropertyDependencies: a.PropertyDependencies}
}

func stringsOf(v any) []string {
	var out []string
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
