package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "facts.tsv")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadHeaderAndRows(t *testing.T) {
	f, err := Read(write(t, "# Prose: not a key, it has a space before the colon? no, it has none.\n"+
		"# source: PostHog/posthog\n# tag: 1.43.0\n# paths: a.py; b.ts\n\njobs\tplugin-server\nclickhouse_groups\tdjango,plugin-server\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta["source"] != "PostHog/posthog" || f.Meta["tag"] != "1.43.0" || f.Meta["paths"] != "a.py; b.ts" {
		t.Errorf("meta = %v", f.Meta)
	}
	if got := strings.Join(f.Column(0), " "); got != "jobs clickhouse_groups" {
		t.Errorf("column 0 = %s", got)
	}
	if !f.Set(1)["django,plugin-server"] || len(f.Rows) != 2 {
		t.Errorf("rows = %v", f.Rows)
	}
}

func TestReadRefusesAFileWithoutItsSource(t *testing.T) {
	if _, err := Read(write(t, "# tag: 1.0\njobs\n")); err == nil || !strings.Contains(err.Error(), "names no source") {
		t.Errorf("error = %v", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "posthog-9.9.9-topics.tsv")); err == nil || !strings.Contains(err.Error(), "no facts for this version") {
		t.Errorf("error = %v", err)
	}
}
