// Package stack opens a stack of this project through Pulumi's Automation API with the
// program inline, so that the CLI needs no Go language host. It keeps everything it writes
// (state, plugins, the passphrase, each stack's workspace) under .work/ in the repository, and
// the stack files under stacks/ untouched: their values are copied into the workspace on every
// run, beside the secrets the workspace already holds.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/platform"
	"github.com/posthog-deploy/posthog-deploy/policies/guard"
)

// Paths are where the driver finds the project and keeps its files.
type Paths struct {
	// Root is the repository: Pulumi.yaml, stacks/, bin/.
	Root string
	// Work holds the state backend, PULUMI_HOME, the passphrase and the workspaces.
	Work string
}

// FindRoot returns the nearest directory at or above dir that holds Pulumi.yaml.
func FindRoot(dir string) (Paths, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "Pulumi.yaml")); err == nil {
			return Paths{Root: d, Work: filepath.Join(d, ".work")}, nil
		}
		if filepath.Dir(d) == d {
			return Paths{}, fmt.Errorf("no Pulumi.yaml at or above %s", dir)
		}
	}
}

// Open creates or selects the named stack, its config synchronised from stacks/.
func Open(ctx context.Context, p Paths, name string) (auto.Stack, error) {
	return OpenWith(ctx, p, name, platform.Program)
}

// OpenWith is Open with another program on the same stack: tests use it to preview variants.
func OpenWith(ctx context.Context, p Paths, name string, program pulumi.RunFunc) (auto.Stack, error) {
	ws := filepath.Join(p.Work, "workspaces", name)
	if err := os.MkdirAll(ws, 0o700); err != nil {
		return auto.Stack{}, err
	}
	settings, err := syncConfig(p, ws, name)
	if err != nil {
		return auto.Stack{}, err
	}
	env, err := environment(p)
	if err != nil {
		return auto.Stack{}, err
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: p.Root, SkipVersionCheck: true})
	if err != nil {
		return auto.Stack{}, fmt.Errorf("the Pulumi CLI is not in %s/bin (run `make tools`): %w", p.Root, err)
	}
	s, err := auto.UpsertStackInlineSource(ctx, name, config.Namespace, program,
		auto.WorkDir(ws), auto.EnvVars(env), auto.Pulumi(cli), auto.SecretsProvider("passphrase"))
	if err != nil {
		return auto.Stack{}, err
	}
	if settings[config.Namespace+":cloud"] == string(config.Local) {
		if err := generateSecrets(ctx, s); err != nil {
			return auto.Stack{}, err
		}
	}
	return s, nil
}

// environment is what the CLI runs with: the file backend, this repository's plugins and
// tools first on PATH, and the workspace passphrase.
func environment(p Paths) (map[string]string, error) {
	state := filepath.Join(p.Work, "state")
	home := filepath.Join(p.Work, "pulumi-home")
	for _, d := range []string{state, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	env := map[string]string{
		"PULUMI_BACKEND_URL":       "file://" + state,
		"PULUMI_HOME":              home,
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		"PATH":                     filepath.Join(p.Root, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	if os.Getenv("PULUMI_CONFIG_PASSPHRASE") == "" && os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == "" {
		file, err := passphraseFile(p.Work)
		if err != nil {
			return nil, err
		}
		env["PULUMI_CONFIG_PASSPHRASE_FILE"] = file
	}
	return env, nil
}

// passphraseFile returns the workspace's passphrase file, made with a random passphrase the
// first time. It encrypts this checkout's stack secrets and never leaves .work/.
func passphraseFile(work string) (string, error) {
	file := filepath.Join(work, "passphrase")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	v, err := random()
	if err != nil {
		return "", err
	}
	return file, os.WriteFile(file, []byte(v), 0o600)
}

type stackFile struct {
	EncryptionSalt string         `yaml:"encryptionsalt,omitempty"`
	Config         map[string]any `yaml:"config"`
}

// syncConfig writes the workspace's project and stack files: the stack's values from
// stacks/Pulumi.<name>.yaml, plus the salt and the secrets already in the workspace that the
// stack file does not set. It returns the stack file's plain values by key.
func syncConfig(p Paths, ws, name string) (map[string]any, error) {
	var repo stackFile
	src := filepath.Join(p.Root, "stacks", "Pulumi."+name+".yaml")
	if err := readYAML(src, &repo); err != nil {
		return nil, fmt.Errorf("stack %q: %w (stacks/ has one file per stack)", name, err)
	}
	if err := config.CheckKeys(slices.Sorted(maps.Keys(repo.Config))); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	var prev stackFile
	dst := filepath.Join(ws, "Pulumi."+name+".yaml")
	if err := readYAML(dst, &prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := stackFile{EncryptionSalt: prev.EncryptionSalt, Config: maps.Clone(repo.Config)}
	if out.Config == nil {
		out.Config = map[string]any{}
	}
	for k, v := range prev.Config {
		if _, set := repo.Config[k]; !set && isSecure(v) {
			out.Config[k] = v
		}
	}
	// The keys Pulumi.yaml declares, so that the engine applies the same defaults and checks.
	project := map[string]any{"name": config.Namespace, "runtime": "go",
		"description": "Workspace of the " + name + " stack, written from stacks/ by the driver.",
		"config":      config.ProjectConfig()}
	if err := writeYAML(filepath.Join(ws, "Pulumi.yaml"), project); err != nil {
		return nil, err
	}
	return repo.Config, writeYAML(dst, out)
}

func isSecure(v any) bool {
	m, ok := v.(map[string]any)
	_, secure := m["secure"]
	return ok && secure
}

// generateSecrets sets every secret the program requires and the stack lacks to a random
// value, as a Pulumi secret. Only stacks on an existing cluster get this; a cloud stack's
// secrets are set by its owner.
func generateSecrets(ctx context.Context, s auto.Stack) error {
	for _, key := range slices.Sorted(maps.Keys(config.SecretKeys)) {
		full := config.Namespace + ":" + key
		// Pulumi.yaml declares the secrets with an empty default: empty is unset.
		if v, err := s.GetConfig(ctx, full); err == nil && v.Value != "" {
			continue
		}
		v, err := random()
		if err != nil {
			return err
		}
		if err := s.SetConfig(ctx, full, auto.ConfigValue{Value: v, Secret: true}); err != nil {
			return err
		}
	}
	return nil
}

func random() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, v)
}

func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// GuardedPreview previews the stack and returns what the change would lose: every data
// resource it would replace or delete, less the allowed ones (see policies/guard).
func GuardedPreview(ctx context.Context, s auto.Stack, allow []string, opts ...optpreview.Option) ([]guard.Finding, error) {
	ch := make(chan events.EngineEvent)
	var steps []guard.Step
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			if e.ResourcePreEvent != nil {
				m := e.ResourcePreEvent.Metadata
				steps = append(steps, guard.Step{Op: string(m.Op), URN: m.URN, Type: m.Type})
			}
		}
	}()
	_, err := s.Preview(ctx, append(opts, optpreview.EventStreams(ch))...)
	<-done
	if err != nil {
		return nil, err
	}
	return guard.Check(steps, allow), nil
}
