package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSyncConfigKeepsWorkspaceSecretsAndNeverWritesStacks(t *testing.T) {
	root := t.TempDir()
	p := Paths{Root: root, Work: filepath.Join(root, ".work")}
	stackFile := "config:\n  posthog-deploy:cloud: local\n  posthog-deploy:environment: dev\n"
	write(t, filepath.Join(root, "stacks", "Pulumi.local.yaml"), stackFile)
	ws := filepath.Join(p.Work, "workspaces", "local")
	write(t, filepath.Join(ws, "Pulumi.local.yaml"), "encryptionsalt: v1:salt\nconfig:\n"+
		"  posthog-deploy:secretKey:\n    secure: v1:abc\n"+
		"  posthog-deploy:namespace: removed-from-stacks\n"+
		"  posthog-deploy:environment: prod\n")

	settings, err := syncConfig(p, ws, "local")
	if err != nil {
		t.Fatal(err)
	}
	if settings["posthog-deploy:cloud"] != "local" {
		t.Errorf("settings = %v", settings)
	}
	got, err := os.ReadFile(filepath.Join(ws, "Pulumi.local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"encryptionsalt: v1:salt", "secure: v1:abc", "posthog-deploy:environment: dev"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("workspace stack file lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "removed-from-stacks") {
		t.Errorf("a plain value no longer in stacks/ survived:\n%s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "stacks", "Pulumi.local.yaml")); string(b) != stackFile {
		t.Errorf("stacks/Pulumi.local.yaml was written:\n%s", b)
	}
}

func TestUnknownStackNamesTheFile(t *testing.T) {
	root := t.TempDir()
	p := Paths{Root: root, Work: filepath.Join(root, ".work")}
	_, err := syncConfig(p, filepath.Join(p.Work, "ws"), "aws-prod")
	if err == nil || !strings.Contains(err.Error(), `stack "aws-prod"`) || !strings.Contains(err.Error(), "Pulumi.aws-prod.yaml") {
		t.Errorf("error = %v", err)
	}
}

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "Pulumi.yaml"), "name: x\n")
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := FindRoot(deep)
	if err != nil || p.Root != root || p.Work != filepath.Join(root, ".work") {
		t.Errorf("FindRoot = %+v, %v", p, err)
	}
	if _, err := FindRoot(t.TempDir()); err == nil {
		t.Error("found a root where there is no Pulumi.yaml")
	}
}

// A typo in a stack file stops the driver before any run, naming the key; the workspace's
// Pulumi.yaml declares the keys as the repository's does, so the engine applies the same defaults.
func TestStackFileKeysAreCheckedAndDeclared(t *testing.T) {
	root := t.TempDir()
	p := Paths{Root: root, Work: filepath.Join(root, ".work")}
	write(t, filepath.Join(root, "stacks", "Pulumi.local.yaml"),
		"config:\n  posthog-deploy:cloud: local\n  posthog-deploy:environment: dev\n  posthog-deploy:clickhose: {shards: 2}\n")
	ws := filepath.Join(p.Work, "workspaces", "local")
	if err := os.MkdirAll(ws, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := syncConfig(p, ws, "local")
	if err == nil || !strings.Contains(err.Error(), `posthog-deploy:clickhose: is not a key of this project: did you mean "clickhouse"?`) {
		t.Fatalf("a typo passed the driver: %v", err)
	}
	write(t, filepath.Join(root, "stacks", "Pulumi.local.yaml"), "config:\n  posthog-deploy:cloud: local\n  posthog-deploy:environment: dev\n")
	if _, err := syncConfig(p, ws, "local"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(ws, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"config:", "clickhouse:", "environment:", "type: string"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the workspace's Pulumi.yaml lacks %q:\n%s", want, b)
		}
	}
}
