// Package capture runs the program under Pulumi's mocks with a stack's config and returns
// every resource it registered, with its inputs and options: what unit tests assert on, and
// what the policy rules check without a cloud.
package capture

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/platform"
)

// Resource is one registered resource.
type Resource struct {
	Type    string
	Name    string
	Inputs  resource.PropertyMap
	Protect bool
	Custom  bool
	// DependsOn are the URNs of the resources this one explicitly depends on.
	DependsOn []string
	// PropertyDependencies maps an input to the URNs its value comes from.
	PropertyDependencies map[string][]string
}

// Config is a stack's config as the engine hands it to a program: full keys, objects as JSON.
type Config struct {
	Values  map[string]string
	Secrets []string
}

// Run runs the program on stack with cfg under mocks.
func Run(stack string, cfg Config) ([]Resource, error) {
	m := &mocks{}
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

type mocks struct {
	mu        sync.Mutex
	resources []Resource
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Custom: args.Custom}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Protect = rpc.Protect != nil && *rpc.Protect
		r.DependsOn = rpc.Dependencies
		r.PropertyDependencies = map[string][]string{}
		for k, deps := range rpc.PropertyDependencies {
			r.PropertyDependencies[k] = deps.Urns
		}
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return args.Name + "-id", args.Inputs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}
