package rules

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Markdown is docs/policies.md: every rule's id, why, what it checks and how to fix it, written
// from the rules themselves.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Policies\n\n<!-- Generated from policies/rules by `make docs`; do not edit. -->\n\n")
	b.WriteString("The policy pack in `policies/` runs in the Pulumi engine on every preview and update " +
		"(`--policy-pack`), and `make policy` runs it over every stack in `stacks/` under mocks. " +
		"A mandatory violation blocks the deployment.\n\n")
	b.WriteString("| id | name | severity | enforcement | checks |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range All() {
		fmt.Fprintf(&b, "| [%s](#%s) | `%s` | %s | %s | %s |\n", r.ID, strings.ToLower(r.ID), r.Name, r.Severity,
			level(r.Enforcement), "`"+strings.Join(r.Types, "`, `")+"`")
	}
	for _, r := range All() {
		fmt.Fprintf(&b, "\n## %s\n\n`%s` — %s, %s.\n\n**Why.** %s\n\n**Fix.** %s\n", r.ID, r.Name, r.Severity,
			level(r.Enforcement), r.Why, r.Fix)
		if r.CheckStack != nil {
			b.WriteString("\nChecks the stack's resources together.\n")
		}
		fmt.Fprintf(&b, "\nFixtures: passes %s; fails %s.\n", names(r.Pass), names(r.Fail))
	}
	return b.String()
}

func level(l policyx.EnforcementLevel) string {
	switch l {
	case policyx.EnforcementLevelMandatory:
		return "mandatory"
	case policyx.EnforcementLevelAdvisory:
		return "advisory"
	}
	return "disabled"
}

func names(fs []Fixture) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = "“" + f.Name + "”"
	}
	return strings.Join(out, ", ")
}
