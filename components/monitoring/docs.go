package monitoring

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// docFigures are the names docs/monitoring.md gives the figures a stack fills in.
var docFigures = struct {
	BackupMaxAgeSeconds, BackupKeep, IntegrityMaxAgeSeconds, Namespace, ClickHouseGroup, IngestionGroup string
}{"${BACKUP_MAX_AGE}", "${BACKUP_KEEP}", "${CHECK_MAX_AGE}", "${NAMESPACE}", "group1", "clickhouse-ingestion"}

// AlertsBegin and AlertsEnd mark the part of docs/monitoring.md generated from the rule files.
const (
	AlertsBegin = "<!-- alerts: generated from components/monitoring/rules by `make docs` -->"
	AlertsEnd   = "<!-- end of the generated alerts -->"
)

// AlertsMarkdown is every alert of the rule files, by group: when it fires, what it means and
// what to do, and its expression.
func AlertsMarkdown() (string, error) {
	files, err := render(docFigures)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(AlertsBegin + "\n")
	for _, n := range names {
		var f struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert       string            `yaml:"alert"`
					Expr        string            `yaml:"expr"`
					For         string            `yaml:"for"`
					Labels      map[string]string `yaml:"labels"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal([]byte(files[n]), &f); err != nil {
			return "", fmt.Errorf("%s: %w", n, err)
		}
		for _, g := range f.Groups {
			fmt.Fprintf(&b, "\n### %s\n\n(`%s`)\n", g.Name, n)
			for _, r := range g.Rules {
				when := "as soon as the expression holds"
				if r.For != "" {
					when = "when the expression has held for " + r.For
				}
				fmt.Fprintf(&b, "\n#### %s\n\n**%s**, fires %s.\n\n- **Means:** %s\n- **Do:** %s\n\n```promql\n%s\n```\n",
					r.Alert, r.Labels["severity"], when, r.Annotations["summary"], r.Annotations["runbook"], strings.TrimSpace(r.Expr))
			}
		}
	}
	b.WriteString("\n" + AlertsEnd + "\n")
	return b.String(), nil
}
