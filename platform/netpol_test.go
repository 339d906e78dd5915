package platform_test

import (
	"slices"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config/labels"
	"github.com/posthog-deploy/posthog-deploy/platform"
)

// Every stack isolates its namespace and admits each service's clients only: each client named
// is the app label of pods the stack runs (a typo would silently cut a service off), and the
// connections the program wires are among those admitted.
func TestNetworkPoliciesAdmitExactlyTheClients(t *testing.T) {
	for _, s := range allStacks(t) {
		pods := map[string]bool{} // app labels of every pod template
		for _, r := range s.rs {
			for _, path := range [][]string{{"spec", "template", "metadata", "labels"},
				{"spec", "jobTemplate", "spec", "template", "metadata", "labels"}} {
				if l := get(obj(r), path...); l.IsObject() {
					pods[str(l.ObjectValue()[labels.App])] = true
				}
			}
		}
		admits := map[string][]string{} // service → clients ("*" for anyone)
		scraped := map[string]string{}  // service → the namespace that scrapes it
		cfg := s.cfg
		denyAll := false
		for _, r := range ofType(s.rs, "kubernetes:networking.k8s.io/v1:NetworkPolicy") {
			spec := get(obj(r), "spec")
			sel := get(spec, "podSelector", "matchLabels")
			if !sel.IsObject() || len(sel.ObjectValue()) == 0 {
				denyAll = get(spec, "ingress").IsNull()
				continue
			}
			service := str(sel.ObjectValue()[labels.App])
			if solver := sel.ObjectValue()["acme.cert-manager.io/http01-solver"]; solver.IsString() {
				service = "cert-manager's HTTP-01 solver"
				pods[service] = true // made by cert-manager, not the stack
			}
			for _, rule := range get(spec, "ingress").ArrayValue() {
				from := get(rule, "from")
				if from.IsNull() {
					admits[service] = append(admits[service], "*")
					continue
				}
				for _, peer := range from.ArrayValue() {
					if ns := get(peer, "namespaceSelector", "matchLabels"); ns.IsObject() {
						scraped[service] = str(ns.ObjectValue()["kubernetes.io/metadata.name"])
						continue
					}
					for _, e := range get(peer, "podSelector", "matchExpressions").ArrayValue() {
						for _, v := range get(e, "values").ArrayValue() {
							admits[service] = append(admits[service], v.StringValue())
						}
					}
				}
			}
		}
		if !denyAll {
			t.Errorf("%s: no default deny of ingress in the namespace", s.name)
		}
		for service, ns := range scraped {
			if !cfg.Monitoring.Enabled || ns != cfg.Monitoring.Namespace {
				t.Errorf("%s: %s may be scraped from namespace %q, with monitoring.enabled %t", s.name, service, ns, cfg.Monitoring.Enabled)
			}
			if !pods[service] {
				t.Errorf("%s: a policy lets Prometheus scrape %q, which no pod of the stack is", s.name, service)
			}
		}
		if cfg.Monitoring.Enabled {
			for _, target := range platform.Targets(cfg) {
				if _, ok := scraped[target.App]; !ok && admits[target.App] == nil {
					t.Errorf("%s: nothing lets Prometheus reach %s's metrics", s.name, target.App)
				}
			}
		}
		for service, clients := range admits {
			if !pods[service] {
				t.Errorf("%s: a policy admits to %q, which no pod of the stack is", s.name, service)
			}
			for _, c := range clients {
				if c != "*" && !pods[c] {
					t.Errorf("%s: %s admits %q, which no pod of the stack is", s.name, service, c)
				}
			}
		}
		want := map[string][]string{
			"zookeeper":      {"kafka", "clickhouse", "zookeeper"},
			"kafka":          {"posthog-plugins", "posthog-web", "posthog-worker", "posthog-migrate", "clickhouse", "kafka-topics"},
			"clickhouse":     {"posthog-web", "posthog-worker", "posthog-plugins", "posthog-migrate", "clickhouse", "clickhouse-backup"},
			"redis":          {"posthog-web", "posthog-worker", "posthog-plugins"},
			"pgbouncer":      {"posthog-web", "posthog-worker", "posthog-plugins", "posthog-migrate"},
			"posthog-web":    {"*"},
			"posthog-events": {"*"},
		}
		if s.cloud != "local" {
			// Let's Encrypt reaches the solver through the ingress controller.
			want["cert-manager's HTTP-01 solver"] = []string{"*"}
		}
		if s.cloud == "local" {
			want["postgres"] = []string{"pgbouncer", "posthog-migrate"}
			want["objectstore"] = []string{"clickhouse", "posthog-web", "objectstore-buckets"}
		}
		for service, clients := range want {
			for _, c := range clients {
				if !slices.Contains(admits[service], c) {
					t.Errorf("%s: %s does not admit %s: %v", s.name, service, c, admits[service])
				}
			}
		}
		for _, data := range []string{"zookeeper", "kafka", "clickhouse", "redis", "pgbouncer", "postgres"} {
			if slices.Contains(admits[data], "*") {
				t.Errorf("%s: %s admits anyone", s.name, data)
			}
		}
	}
}
