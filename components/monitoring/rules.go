package monitoring

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"text/template"

	"gopkg.in/yaml.v3"
)

// The alerts are Prometheus rule files (rules/*.rules.yaml), templates of the figures a stack
// derives them from; promtool checks each one and runs its unit tests (rules/*.test.yaml) in
// the tests, with Prometheus' own rule engine.
//
//go:embed rules/*.rules.yaml
var ruleFiles embed.FS

// RuleParams are the stack's figures the alerts compare with.
type RuleParams struct {
	// BackupMaxAgeSeconds is the longest a shard may go without a successful remote backup: the
	// longest gap of the backup schedule plus the slack.
	BackupMaxAgeSeconds int
	// BackupKeep is how many remote backups per shard the bucket keeps (clickhouse-backup's
	// BACKUPS_TO_KEEP_REMOTE).
	BackupKeep int
	// IntegrityMaxAgeSeconds is the longest the integrity check may go without reporting.
	IntegrityMaxAgeSeconds int
	// Namespace is the stack's namespace: the alerts select its series only (kubelet volume
	// statistics cover every namespace), and an alert about absent series carries it, so that
	// routes scoped to the namespace (an AlertmanagerConfig's) receive every alert.
	Namespace string
	// ClickHouseGroup is the consumer group of ClickHouse's Kafka engine tables; IngestionGroup
	// the plugin server's ingestion consumer group (config.Release).
	ClickHouseGroup, IngestionGroup string
}

// RuleFiles renders every rule file with the stack's figures, by file name.
func RuleFiles(p RuleParams) (map[string]string, error) { return render(p) }

// render fills the rule files' templates with p, a RuleParams or the names the docs show.
func render(p any) (map[string]string, error) {
	names, err := fs.Glob(ruleFiles, "rules/*.rules.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		t, err := template.New(n).Option("missingkey=error").Delims("[[", "]]").ParseFS(ruleFiles, n)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, n[len("rules/"):], p); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[n[len("rules/"):]] = b.String()
	}
	return out, nil
}

// RuleGroups are the groups of every rule file, as a PrometheusRule's spec.groups holds them.
func RuleGroups(p RuleParams) ([]any, error) {
	files, err := RuleFiles(p)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var groups []any
	for _, n := range names {
		var f struct {
			Groups []any `yaml:"groups"`
		}
		if err := yaml.Unmarshal([]byte(files[n]), &f); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		groups = append(groups, f.Groups...)
	}
	return groups, nil
}
