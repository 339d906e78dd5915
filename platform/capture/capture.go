// Package capture runs the program under Pulumi's mocks with a stack's config and returns
// every resource it registered, with its inputs and options: what unit tests assert on, and
// what the policy rules check without a cloud.
package capture

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"gopkg.in/yaml.v3"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/platform"
)

// Resource is one registered resource.
type Resource struct {
	// URN is the resource's URN, as the engine would make it.
	URN     string
	Type    string
	Name    string
	Inputs  resource.PropertyMap
	Protect bool
	Custom  bool
	// DependsOn are the URNs of the resources this one explicitly depends on.
	DependsOn []string
	// PropertyDependencies maps an input to the URNs its value comes from.
	PropertyDependencies map[string][]string
	// Parent is the URN of the component the resource sits under ("" at the stack's root).
	Parent string
	// Aliases are the resource's alias options: the identities it had before a move or rename.
	Aliases []*pulumirpc.Alias
	// Timeouts are the custom timeouts the provider waits within ("" where it uses its own).
	Timeouts pulumi.CustomTimeouts
}

// Config is a stack's config as the engine hands it to a program: full keys, objects as JSON.
type Config struct {
	Values  map[string]string
	Secrets []string
}

// Run runs the program on stack with cfg under mocks.
func Run(stack string, cfg Config) ([]Resource, error) {
	m := &mocks{stack: stack}
	err := pulumi.RunErr(platform.Program,
		pulumi.WithMocks(config.Namespace, stack, m),
		func(info *pulumi.RunInfo) { info.Config, info.ConfigSecretKeys = cfg.Values, cfg.Secrets })
	return m.resources, err
}

// StackFile reads stacks/Pulumi.<stack>.yaml into the engine's shape. Secrets are never in
// stack files, so each required secret gets a placeholder of valid length, marked secret.
func StackFile(path string) (Config, error) {
	var f struct {
		Config map[string]any `yaml:"config"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := config.CheckKeys(slices.Sorted(maps.Keys(f.Config))); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	c := Config{Values: map[string]string{}}
	for k, v := range f.Config {
		if s, ok := v.(string); ok {
			c.Values[k] = s
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		c.Values[k] = string(j)
	}
	for k, n := range config.SecretKeys {
		full := config.Namespace + ":" + k
		if _, set := c.Values[full]; !set {
			c.Values[full] = fmt.Sprintf("%0*d", n, 0)
		}
		c.Secrets = append(c.Secrets, full)
	}
	return c, nil
}

// Parse is the stack's config as the program sees it: config.Parse over these values.
func (c Config) Parse() (*config.Config, error) { return config.Parse(source(c)) }

type source Config

func (s source) Get(key string) (string, bool) {
	v, ok := s.Values[config.Namespace+":"+key]
	return v, ok
}

func (s source) IsSecret(key string) bool {
	return slices.Contains(s.Secrets, config.Namespace+":"+key)
}

type mocks struct {
	stack     string
	mu        sync.Mutex
	resources []Resource
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Custom: args.Custom}
	if rpc := args.RegisterRPC; rpc != nil {
		var parent tokens.Type
		if p := resource.URN(rpc.Parent); p != "" && p.Type() != resource.RootStackType {
			parent = p.QualifiedType()
		}
		r.URN = string(resource.NewURN(tokens.QName(m.stack), config.Namespace, parent, tokens.Type(args.TypeToken), args.Name))
		if parent != "" {
			r.Parent = rpc.Parent
		}
		r.Aliases = rpc.GetAliases()
		r.Protect = rpc.Protect != nil && *rpc.Protect
		r.DependsOn = rpc.Dependencies
		if t := rpc.GetCustomTimeouts(); t != nil {
			r.Timeouts = pulumi.CustomTimeouts{Create: t.Create, Update: t.Update, Delete: t.Delete}
		}
		r.PropertyDependencies = map[string][]string{}
		for k, deps := range rpc.PropertyDependencies {
			r.PropertyDependencies[k] = deps.Urns
		}
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	outputs := args.Inputs.Copy()
	id := args.Name + "-id"
	for k, v := range resource.NewPropertyMapFromMap(computed(args.TypeToken, args.Name)) {
		if k == "id" && v.IsString() {
			id = v.StringValue() // the cloud's own form of an id (an ARM resource id)
			continue
		}
		outputs[k] = v
	}
	return id, outputs, nil
}

// computed are the outputs a cloud computes for a resource that the program reads: each
// cloud's registry entry says them.
func computed(typ, name string) map[string]any {
	for _, f := range config.Registry {
		if out, ok := f.Mock.Outputs[typ]; ok {
			return out(name)
		}
	}
	return nil
}

// Call answers the clouds' lookups the program makes with what the cloud would return.
func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	for _, f := range config.Registry {
		if answer, ok := f.Mock.Calls[args.Token]; ok {
			return resource.NewPropertyMapFromMap(answer(args.Args.Mappable())), nil
		}
	}
	return resource.PropertyMap{}, nil
}

// Identities maps each resource's URN to every URN it answers to: its own, its aliases', and
// those its ancestors' aliases give it (the engine carries a moved parent's identity to its
// children). A resource keeps its state across a change when one of these is the URN it had.
func Identities(stack string, rs []Resource) map[string][]string {
	byURN := map[string]Resource{}
	for _, r := range rs {
		byURN[r.URN] = r
	}
	urnOf := func(parent string, typ, name string) string {
		var qualified tokens.Type
		if parent != "" {
			qualified = resource.URN(parent).QualifiedType()
		}
		return string(resource.NewURN(tokens.QName(stack), config.Namespace, qualified, tokens.Type(typ), name))
	}
	memo := map[string][]string{}
	var identities func(string) []string
	identities = func(urn string) []string {
		if ids, ok := memo[urn]; ok {
			return ids
		}
		ids := []string{urn}
		r, ok := byURN[urn]
		if !ok {
			return ids
		}
		for _, a := range r.Aliases {
			if a.GetUrn() != "" {
				ids = append(ids, a.GetUrn())
				continue
			}
			spec := a.GetSpec()
			name, typ, parent := r.Name, r.Type, r.Parent
			if spec.GetName() != "" {
				name = spec.GetName()
			}
			if spec.GetType() != "" {
				typ = spec.GetType()
			}
			switch {
			case spec.GetNoParent():
				parent = ""
			case spec.GetParentUrn() != "":
				parent = spec.GetParentUrn()
			}
			ids = append(ids, urnOf(parent, typ, name))
		}
		if r.Parent != "" {
			for _, p := range identities(r.Parent)[1:] {
				ids = append(ids, urnOf(p, r.Type, r.Name))
			}
		}
		memo[urn] = ids
		return ids
	}
	out := map[string][]string{}
	for _, r := range rs {
		out[r.URN] = identities(r.URN)
	}
	return out
}
