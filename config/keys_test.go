package config

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite Pulumi.yaml's config block from Keys")

// recording is a source that remembers every key the loader asks for.
type recording struct {
	source
	asked map[string]bool
}

func (r recording) Get(k string) (string, bool) { r.asked[k] = true; return r.source.Get(k) }

// Keys is exactly what the loader reads, over every cloud.
func TestKeysAreWhatTheLoaderReads(t *testing.T) {
	asked := map[string]bool{}
	for _, cloud := range []string{"local", "aws", "gcp", "digitalocean", "azure"} {
		src := validCloud(cloud, "prod", nil)
		if cloud == "local" {
			src = valid("prod", nil)
		}
		_, _ = Parse(recording{src, asked})
	}
	var names []string
	for _, k := range Keys {
		names = append(names, k.Name)
		if !asked[k.Name] {
			t.Errorf("Keys declares %q, which the loader never reads", k.Name)
		}
	}
	for k := range asked {
		if !slices.Contains(names, k) {
			t.Errorf("the loader reads %q, which Keys does not declare", k)
		}
	}
}

func TestUnknownKeysAreRefusedByName(t *testing.T) {
	err := CheckKeys([]string{"posthog-deploy:cloud", "aws:region", "posthog-deploy:clickhose", "posthog-deploy:zookeper", "posthog-deploy:shards"})
	if err == nil {
		t.Fatal("typos passed")
	}
	for _, want := range []string{
		`posthog-deploy:clickhose: is not a key of this project: did you mean "clickhouse"?`,
		`posthog-deploy:zookeper: is not a key of this project: did you mean "zookeeper"?`,
		"posthog-deploy:shards: is not a key of this project: the keys are cloud, environment",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "aws:region") || strings.Contains(err.Error(), "posthog-deploy:cloud:") {
		t.Errorf("a known key or another namespace's key was refused:\n%v", err)
	}
	if err := CheckConfigJSON(`{"posthog-deploy:cloud":"aws","posthog-deploy:postgress":"{}"}`); err == nil ||
		!strings.Contains(err.Error(), `did you mean "postgres"`) {
		t.Errorf("the CLI's config was not checked: %v", err)
	}
}

// Pulumi.yaml declares every key with its description, so `pulumi config` users see them and
// the engine asks for the required ones; it is written from Keys (go test ./config -update).
func TestPulumiYAMLDeclaresEveryKey(t *testing.T) {
	b, err := os.ReadFile("../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Config map[string]map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &project); err != nil {
		t.Fatal(err)
	}
	want := ProjectConfig()
	if reflect.DeepEqual(project.Config, want) {
		return
	}
	if !*update {
		t.Fatalf("Pulumi.yaml's config block is not Keys: run `go test ./config -update`")
	}
	head, _, _ := bytes.Cut(b, []byte("\nconfig:"))
	// Keys in their declared order, not sorted.
	var ordered strings.Builder
	ordered.WriteString("config:\n")
	for _, k := range Keys {
		var one bytes.Buffer
		e := yaml.NewEncoder(&one)
		e.SetIndent(2)
		if err := e.Encode(map[string]any{k.Name: want[k.Name]}); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimRight(one.String(), "\n"), "\n") {
			ordered.WriteString("  " + line + "\n")
		}
	}
	out := append(bytes.TrimRight(head, "\n"), []byte("\n"+ordered.String())...)
	if err := os.WriteFile("../Pulumi.yaml", out, 0o644); err != nil {
		t.Fatal(err)
	}
}
