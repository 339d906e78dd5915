// Command posthog-deploy is the Pulumi program: `pulumi up --stack <name>` deploys a
// production PostHog on the stack's cloud. The program itself is platform.Program, which the
// Automation API driver (cmd/stack) runs too.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/platform"
)

func main() {
	pulumi.Run(platform.Program)
}
