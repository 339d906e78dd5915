package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// testParams are the figures the rule unit tests (rules/*.test.yaml) are written against: a
// daily backup schedule with 2 h of slack, 3 backups kept, an integrity check every 6 h.
var testParams = RuleParams{
	BackupMaxAgeSeconds:    93600, // 24 h + 2 h
	BackupKeep:             3,
	IntegrityMaxAgeSeconds: 46800, // 2 × 6 h + 1 h
	Namespace:              "posthog",
	ClickHouseGroup:        "group1",
	IngestionGroup:         "clickhouse-ingestion",
}

// promtool finds Prometheus' own rule tool, which `make promtool` builds into bin/.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	p, _ := filepath.Abs("../../bin/promtool")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtool is not built (%v): run `make promtool`", err)
	}
	return p
}

// renderRules writes every rendered rule file and every unit test file into a directory, as
// promtool reads them (a test file names its rule files relative to itself).
func renderRules(t *testing.T, p RuleParams) string {
	t.Helper()
	files, err := RuleFiles(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests, _ := filepath.Glob("rules/*.test.yaml")
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRuleFilesPassPromtoolCheck: every rendered rule file, with the test figures and with a
// stack's extreme ones, is one Prometheus loads (`promtool check rules`, its own parser and
// linter).
func TestRuleFilesPassPromtoolCheck(t *testing.T) {
	bin := promtool(t)
	for _, p := range []RuleParams{testParams, {BackupMaxAgeSeconds: 61 * 86400, BackupKeep: 1,
		IntegrityMaxAgeSeconds: 3600, Namespace: "n", ClickHouseGroup: "g", IngestionGroup: "i"}} {
		dir := renderRules(t, p)
		names, _ := filepath.Glob(filepath.Join(dir, "*.rules.yaml"))
		if len(names) == 0 {
			t.Fatal("no rule files rendered")
		}
		out, err := run(t, dir, bin, append([]string{"check", "rules", "--lint-fatal"}, names...)...)
		if err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	}
}

// TestRuleFileCheckCatchesABrokenRule: the check above fails when a rule is broken, so it is
// not passing on an empty or ignored input.
func TestRuleFileCheckCatchesABrokenRule(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	bad := "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: up{job=\"clickhouse\" == 0\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.rules.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, bin, "check", "rules", "bad.rules.yaml"); err == nil {
		t.Errorf("promtool accepted a broken expression:\n%s", out)
	}
}

// TestEveryAlertHasPromtoolUnitTests runs rules/*.test.yaml with `promtool test rules`
// (Prometheus' rule engine on synthetic series), and holds every alert to at least one case
// where it fires and one where it stays quiet.
func TestEveryAlertHasPromtoolUnitTests(t *testing.T) {
	bin := promtool(t)
	dir := renderRules(t, testParams)
	tests, _ := filepath.Glob(filepath.Join(dir, "*.test.yaml"))
	if len(tests) == 0 {
		t.Fatal("no rules/*.test.yaml")
	}
	out, err := run(t, dir, bin, append([]string{"test", "rules"}, tests...)...)
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	fires, quiet := map[string]int{}, map[string]int{}
	for _, f := range tests {
		var tf struct {
			RuleFiles []string `yaml:"rule_files"`
			Tests     []struct {
				AlertRuleTest []struct {
					Alertname string `yaml:"alertname"`
					ExpAlerts []any  `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		b, _ := os.ReadFile(f)
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname]++
				} else {
					quiet[a.Alertname]++
				}
			}
		}
	}
	alerts := alertNames(t)
	for _, a := range alerts {
		if fires[a] == 0 {
			t.Errorf("%s: no unit test where it fires", a)
		}
		if quiet[a] == 0 {
			t.Errorf("%s: no unit test where it stays quiet", a)
		}
	}
	for a := range fires {
		if !slices.Contains(alerts, a) {
			t.Errorf("a unit test expects %s, which no rule file defines", a)
		}
	}
}

// alertNames are the alerts of every rule file.
func alertNames(t *testing.T) []string {
	t.Helper()
	groups, err := RuleGroups(testParams)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if a, ok := r.(map[string]any)["alert"].(string); ok {
				if slices.Contains(names, a) {
					t.Errorf("alert %s is defined twice", a)
				}
				names = append(names, a)
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("no alerts")
	}
	return names
}

// TestEveryAlertSaysWhatToDo: each alert has a severity Alertmanager can route on, a summary,
// and a runbook line.
func TestEveryAlertSaysWhatToDo(t *testing.T) {
	groups, err := RuleGroups(testParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			labels, _ := rule["labels"].(map[string]any)
			if s := labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %v, want critical or warning", name, s)
			}
			ann, _ := rule["annotations"].(map[string]any)
			for _, k := range []string{"summary", "runbook"} {
				if v, _ := ann[k].(string); strings.TrimSpace(v) == "" {
					t.Errorf("%s: no %s annotation", name, k)
				}
			}
		}
	}
}
