package platform_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/components/clickhouse"
	"github.com/posthog-deploy/posthog-deploy/components/monitoring"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/platform"
)

const (
	podMonitorT     = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
	prometheusRuleT = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
	helmReleaseT    = "kubernetes:helm.sh/v3:Release"
	cronJobT        = "kubernetes:batch/v1:CronJob"
)

// TestMonitoredStacksCarryMonitorsRulesAndDashboards: every stack with monitoring on (staging
// and prod of every cloud, and local) scrapes every target, holds every alert, ships the
// dashboard and checks every ClickHouse replica's data; a cloud stack installs the pinned
// kube-prometheus-stack; a dev cloud stack has none of it.
func TestMonitoredStacksCarryMonitorsRulesAndDashboards(t *testing.T) {
	alerts := 0
	groups, err := monitoring.RuleGroups(someFigures)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		alerts += len(g.(map[string]any)["rules"].([]any))
	}
	eachStack(t, func(t *testing.T, s rendered) {
		monitors := ofType(s.rs, podMonitorT)
		rules := ofType(s.rs, prometheusRuleT)
		if !s.cfg.Monitoring.Enabled {
			if len(monitors)+len(rules) > 0 || s.env != "dev" {
				t.Errorf("monitoring off in %s, yet %d monitors and %d rules", s.env, len(monitors), len(rules))
			}
			return
		}
		for _, target := range append(platform.Targets(s.cfg), monitoring.PushgatewayTarget) {
			m, ok := monitors[target.Job]
			if !ok {
				t.Errorf("no PodMonitor scrapes %s", target.Job)
				continue
			}
			if sel := str(get(obj(m), "spec", "selector", "matchLabels", "app.kubernetes.io/name")); sel != target.App {
				t.Errorf("PodMonitor %s selects %q, want %q", target.Job, sel, target.App)
			}
		}
		rule, ok := rules["posthog-alerts"]
		if !ok {
			t.Fatal("no PrometheusRule")
		}
		got := 0
		for _, g := range get(obj(rule), "spec", "groups").ArrayValue() {
			got += len(get(g, "rules").ArrayValue())
		}
		if got != alerts {
			t.Errorf("the PrometheusRule holds %d rules, the rule files %d", got, alerts)
		}
		if cm := ofType(s.rs, configMapT)["dashboard-posthog-platform"]; str(get(obj(cm), "metadata", "labels", monitoring.DashboardLabel)) != "1" {
			t.Error("no dashboard ConfigMap with the Grafana sidecar's label")
		}
		crons := ofType(s.rs, cronJobT)
		for _, r := range topology(s.cfg).Replicas() {
			if _, ok := crons["integrity-"+r.Name]; !ok {
				t.Errorf("no integrity check of %s", r.Name)
			}
		}
		kps, installed := ofType(s.rs, helmReleaseT)[monitoring.Release]
		if installed != (s.cloud != "local") {
			t.Errorf("kube-prometheus-stack installed = %t on %s", installed, s.cloud)
		}
		if installed && str(get(obj(kps), "version")) != config.KubePrometheusStack.Version {
			t.Errorf("kube-prometheus-stack %v, want the pinned %s", get(obj(kps), "version"), config.KubePrometheusStack.Version)
		}
	})
}

// someFigures fill the rule files' templates for tests that read the rules' shape, not figures.
var someFigures = monitoring.RuleParams{BackupMaxAgeSeconds: 1, BackupKeep: 1, IntegrityMaxAgeSeconds: 1,
	Namespace: "posthog", ClickHouseGroup: "group1", IngestionGroup: "clickhouse-ingestion"}

func topology(cfg *config.Config) clickhouse.Topology {
	return clickhouse.NewTopology(cfg.ClickHouse.Cluster, cfg.ClickHouse.Shards, cfg.ClickHouse.Replicas, cfg.Namespace)
}

var (
	selector   = regexp.MustCompile(`([A-Za-z_:][A-Za-z0-9_:]*)\s*\{((?:[^}"]|"[^"]*")*)\}`)
	jobMatcher = regexp.MustCompile(`\bjob\s*=\s*"([^"]*)"`)
	clauses    = regexp.MustCompile(`\{(?:[^}"]|"[^"]*")*\}|\[[^\]]*\]|"[^"]*"|\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)|\boffset\s+\w+|\$\w+`)
	identifier = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	keywords   = []string{"and", "or", "unless", "bool"}
)

// metricsOf are the metric names a PromQL expression reads, each with the job its selector
// names ("" without one).
func metricsOf(expr string) map[string]string {
	out := map[string]string{}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		job := ""
		if j := jobMatcher.FindStringSubmatch(m[2]); j != nil {
			job = j[1]
		}
		out[m[1]] = job
	}
	for _, id := range identifier.FindAllString(clauses.ReplaceAllString(expr, " "), -1) {
		if strings.HasSuffix(strings.TrimSpace(id), "(") || slices.Contains(keywords, id) {
			continue // a function or an aggregation
		}
		if _, seen := out[id]; !seen {
			out[id] = ""
		}
	}
	return out
}

func TestMetricsOfReadsSelectorsAndBareNames(t *testing.T) {
	got := metricsOf(`sum by (namespace, topic) (a{job="kafka", x="}"} offset 30m) > 0 and on (pod) b unless max_over_time(c[2d]) / d{job="x"}[5m]`)
	want := map[string]string{"a": "kafka", "b": "", "c": "", "d": "x"}
	if len(got) != len(want) {
		t.Errorf("metricsOf = %v, want %v", got, want)
	}
	for k, v := range want {
		if j, ok := got[k]; !ok || j != v {
			t.Errorf("metricsOf = %v, want %v", got, want)
		}
	}
}

// TestAlertsAndDashboardsUseOnlyMetricsThePlatformExports: every metric a rule or a dashboard
// query reads is in the catalog of what the pinned exporters and services export
// (components/monitoring/testdata/metrics.tsv, each with its source), under the job the
// platform scrapes it as; and every job of the catalog is one a stack scrapes.
func TestAlertsAndDashboardsUseOnlyMetricsThePlatformExports(t *testing.T) {
	catalog := map[string]string{}
	for _, row := range facts(t, "../components/monitoring/testdata/metrics.tsv").Rows {
		catalog[row[0]] = row[1]
	}
	var exprs []string
	groups, err := monitoring.RuleGroups(someFigures)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			exprs = append(exprs, r.(map[string]any)["expr"].(string))
		}
	}
	dashboards, err := monitoring.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dashboards {
		var model any
		if err := json.Unmarshal([]byte(d.JSON), &model); err != nil {
			t.Fatal(err)
		}
		exprs = append(exprs, dashboardExprs(model)...)
	}
	if len(exprs) < 40 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for name, job := range metricsOf(e) {
			used[name] = true
			want, known := catalog[name]
			switch {
			case !known:
				t.Errorf("%s is not a metric the platform exports (not in metrics.tsv): %s", name, e)
			case job != "" && want != "*" && job != want:
				t.Errorf("%s is selected under job %q; it is scraped as %q: %s", name, job, want, e)
			}
		}
	}
	scraped := map[string]bool{monitoring.IntegrityJob: true, "kubelet": true, "*": true}
	for _, s := range allStacks(t) {
		for _, target := range platform.Targets(s.cfg) {
			scraped[target.Job] = true
		}
	}
	for name, job := range catalog {
		if !scraped[job] {
			t.Errorf("metrics.tsv: %s's job %q is scraped by no stack", name, job)
		}
		if !used[name] {
			t.Errorf("metrics.tsv: %s is used by no alert or dashboard", name)
		}
	}
}

// dashboardExprs are the queries of a Grafana dashboard model: its panels' targets, nested
// rows included, and its variables' queries.
func dashboardExprs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "expr" {
				out = append(out, s)
				continue
			}
			if s, ok := e.(string); ok && k == "query" && strings.HasPrefix(s, "label_values(") {
				out = append(out, strings.TrimSuffix(strings.TrimPrefix(s, "label_values("), ", namespace)"))
				continue
			}
			out = append(out, dashboardExprs(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, dashboardExprs(e)...)
		}
	}
	return out
}
