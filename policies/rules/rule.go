// Package rules holds the policy pack's rules. Each rule has a stable id, says why it exists and
// how to fix a violation, checks named resource types (or the whole stack), and carries its own
// passing and failing fixtures, which are also its tests and its documentation.
package rules

import (
	"slices"

	"github.com/posthog-deploy/posthog-deploy/config"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Severity ranks what a violation risks.
type Severity string

// Severities, from data loss down.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
)

// Resource is what a rule sees of one resource.
type Resource struct {
	Type    string
	Name    string
	URN     string
	Props   property.Map
	Protect bool
	// PropertyDependencies maps an input to the URNs of the resources its value comes from.
	PropertyDependencies map[string][]string
}

// Context is what a rule knows of the stack beyond its resources.
type Context struct {
	// Environment is the stack's posthog-deploy:environment ("" when unknown: held to prod).
	Environment string
	// Cloud is the stack's posthog-deploy:cloud.
	Cloud string
	// AllowExperimental lists the allow_experimental_* settings the policy config allows.
	AllowExperimental []string
}

// Zoned says whether the stack's cloud has zones to spread replicas over (an unknown cloud is
// held to zones); elsewhere replicas are kept on separate nodes instead.
func (c Context) Zoned() bool {
	f := config.Facts(config.Cloud(c.Cloud))
	return f.Zoned || f.Cloud == ""
}

// StandIns says whether the stack runs its own PostgreSQL and object store in the cluster
// instead of a cloud's (an unknown cloud is held to a cloud's rules).
func (c Context) StandIns() bool { return config.Facts(config.Cloud(c.Cloud)).StandIns }

// HA says whether the stack is held to the high-availability minimums (staging, prod, unknown).
func (c Context) HA() bool { return c.Environment != "dev" }

// Rule is one policy. Exactly one of Check and CheckStack is set.
type Rule struct {
	// ID never changes once published; Name is the policy's name in the engine.
	ID, Name string
	// Why says what goes wrong without the rule, with the incident or anchor it comes from.
	Why string
	// Fix says what to set.
	Fix         string
	Severity    Severity
	Enforcement policyx.EnforcementLevel
	// Types are the resource types checked (for a stack rule, the types it reads).
	Types []string
	// Config is the schema of the rule's per-stack policy config (--policy-pack-config), which
	// Check finds in its Context; nil for a rule without one.
	Config *policyx.ConfigSchema
	// Check returns one message per violation in a resource of one of Types. It must not
	// report a value that is unknown yet (a preview's computed value): it decides on what is known.
	Check func(Context, Resource) []string
	// CheckStack sees every resource of the stack at once.
	CheckStack func(Context, []Resource) []Violation
	// Pass and Fail are the fixtures: stacks that must pass, and stacks that must violate.
	Pass, Fail []Fixture
}

// Violation is one finding of a stack rule, about the resource URN (empty: the stack).
type Violation struct {
	URN     string
	Message string
}

// Fixture is a small stack a rule is tested on.
type Fixture struct {
	Name      string
	Context   Context
	Resources []Resource
}

// Run applies the rule to a stack's resources and returns its violations.
func (r Rule) Run(ctx Context, rs []Resource) []Violation {
	if r.CheckStack != nil {
		return r.CheckStack(ctx, rs)
	}
	var out []Violation
	for _, res := range rs {
		if !slices.Contains(r.Types, res.Type) {
			continue
		}
		for _, m := range r.Check(ctx, res) {
			out = append(out, Violation{URN: res.URN, Message: m})
		}
	}
	return out
}

// All is every rule of the pack, in the order of the docs.
func All() []Rule {
	var all []Rule
	for _, group := range [][]Rule{clickHouseRules(), backupRules(), objectDiskRules(), zooKeeperRules(), kafkaRules(), kubernetesRules(), stackRules(),
		postgresRules(), bucketRules(), clusterRules()} {
		all = append(all, group...)
	}
	return all
}
