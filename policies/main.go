// Command policies is the posthog-deploy policy pack: the engine runs it on every resource of
// a preview or update (`pulumi preview --policy-pack policies`, or the built executable
// `make policy-pack` makes) and blocks any mandatory violation. The rules are in policies/rules.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/policies/rules"
)

func main() {
	err := policyx.Main(func(ctx *pulumi.Context) (policyx.PolicyPack, error) {
		// The stack's own config says which minimums hold (staging and prod get HA rules) and
		// what its cloud can offer (zones to spread over).
		env, _ := ctx.GetConfig(config.Namespace + ":environment")
		cloud, _ := ctx.GetConfig(config.Namespace + ":cloud")
		return rules.Pack(rules.Context{Environment: env, Cloud: cloud})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
