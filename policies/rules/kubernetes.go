package rules

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

func kubernetesRules() []Rule {
	return []Rule{{
		ID: "PH-K8-001", Name: "images-pinned",
		Why:      "An image tagged latest, or untagged, changes under a running platform on the next pull: a restart can upgrade ClickHouse or PostHog unreviewed.",
		Fix:      "Pin a version tag or a digest (image:1.2.3 or image@sha256:…) in the stack's config.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: Workloads,
		Check: func(_ Context, r Resource) []string {
			var out []string
			for i, c := range containers(r) {
				image, ok := str(at(c, "image"))
				if !ok {
					continue
				}
				if !config.Pinned(image) {
					out = append(out, fmt.Sprintf("container %s: image %q is not pinned", containerName(c, i), image))
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "tag", Resources: []Resource{workload(Deployment, "web", 1, nil, container("posthog/posthog:release-1.43.0", nil), nil)}},
			{Name: "digest", Resources: []Resource{workload(Deployment, "web", 1, nil, container("posthog/posthog@sha256:abc", nil), nil)}},
			{Name: "registry port", Resources: []Resource{workload(Deployment, "web", 1, nil, container("registry:5000/posthog:1.0", nil), nil)}}},
		Fail: []Fixture{{Name: "latest", Resources: []Resource{workload(Deployment, "web", 1, nil, container("posthog/posthog:latest", nil), nil)}},
			{Name: "untagged", Resources: []Resource{workload(StatefulSet, "db", 1, nil, container("registry:5000/postgres", nil), nil)}}},
	}, {
		ID: "PH-K8-002", Name: "containers-request-resources",
		Why:      "A container without CPU and memory requests is scheduled as if it were free: nodes overcommit and the data services are the first to be evicted or OOM-killed.",
		Fix:      "Set resources.requests.cpu and .memory on every container (components/kube does).",
		Severity: Medium, Enforcement: policyx.EnforcementLevelMandatory, Types: Workloads,
		Check: func(_ Context, r Resource) []string {
			var out []string
			for i, c := range containers(r) {
				req := at(c, "resources", "requests")
				if req.IsComputed() {
					continue
				}
				for _, k := range []string{"cpu", "memory"} {
					if v := at(req, k); v.IsNull() {
						out = append(out, fmt.Sprintf("container %s requests no %s", containerName(c, i), k))
					}
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "requests", Resources: []Resource{workload(Deployment, "web", 1, nil, container("a:1", nil), nil)}}},
		Fail: []Fixture{{Name: "none", Resources: []Resource{workload(Deployment, "web", 1, nil, map[string]any{"name": "main", "image": "a:1"}, nil)}}},
	}, {
		ID: "PH-K8-003", Name: "stateful-workloads-have-disruption-budgets",
		Why: "Without a PodDisruptionBudget a node drain or upgrade may evict every member of a quorum or every replica " +
			"of a shard at once. (A single-replica set is not checked: a budget can only allow or forbid its eviction.)",
		Fix: "Cover the pods of every replicated StatefulSet (more than one replica, or a replica of a ClickHouse shard) " +
			"with a PodDisruptionBudget (components/kube makes one per set, or per ClickHouse shard).",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{StatefulSet, PDB},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			var budgets []map[string]string
			for _, r := range rs {
				if r.Type == PDB {
					budgets = append(budgets, labelMap(at(props(r), "spec", "selector", "matchLabels")))
				}
			}
			var out []Violation
			for _, r := range rs {
				if r.Type != StatefulSet {
					continue
				}
				pod := labelMap(at(props(r), "spec", "template", "metadata", "labels"))
				if n, ok := num(at(props(r), "spec", "replicas")); ok && n < 2 && pod[shardLabel] == "" {
					continue
				}
				covered := false
				for _, b := range budgets {
					covered = covered || selects(b, pod)
				}
				if !covered {
					out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("StatefulSet %s has no PodDisruptionBudget", r.Name)})
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "covered", Resources: []Resource{zkSet(3), res(PDB, "zookeeper", map[string]any{
			"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]string{labels.App: labels.ZooKeeper}}}})}},
			{Name: "single replica", Resources: []Resource{zkSet(1)}}},
		Fail: []Fixture{{Name: "none", Resources: []Resource{zkSet(3)}}, {Name: "shard replica", Resources: []Resource{chReplica("0", "0", true)}}},
	}, {
		ID: "PH-K8-004", Name: "data-services-not-open-to-the-cluster",
		Why: "Without a NetworkPolicy any pod in the cluster (a compromised PostHog plugin, another team's workload) " +
			"can connect to ClickHouse, Kafka, ZooKeeper, Redis or the database: read every event, drop tables, rewrite offsets.",
		Fix: "Isolate the namespace (a NetworkPolicy selecting every pod, policyTypes Ingress) and admit each data service's " +
			"clients by pod label (components/netpol, platform.Access); never an ingress rule without `from`, an empty " +
			"namespaceSelector or a /0 ipBlock for a data service.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{StatefulSet, Deployment, NetworkPolicy},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			var policies []property.Value
			for _, r := range rs {
				if r.Type == NetworkPolicy {
					policies = append(policies, props(r))
				}
			}
			var out []Violation
			for _, r := range rs {
				pod := podLabels(r)
				if r.Type != StatefulSet && !(r.Type == Deployment && pod[labels.App] == labels.PgBouncer) {
					continue
				}
				isolated, open := false, ""
				for _, p := range policies {
					if !hasString(at(p, "spec", "policyTypes"), "Ingress") || !selectorSelects(at(p, "spec", "podSelector"), pod) {
						continue
					}
					isolated = true
					if why := openIngress(at(p, "spec", "ingress")); why != "" {
						open = why
					}
				}
				switch {
				case !isolated:
					out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("%s %s: no NetworkPolicy isolates its pods: every pod of the cluster can connect", r.Type, r.Name)})
				case open != "":
					out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("%s %s: a NetworkPolicy admits %s", r.Type, r.Name, open)})
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "deny, then clients", Resources: []Resource{zkSet(3), denyAll(), allowFrom(labels.ZooKeeper, labels.Kafka)}}},
		Fail: []Fixture{
			{Name: "no policy", Resources: []Resource{zkSet(3)}},
			{Name: "from anywhere", Resources: []Resource{zkSet(3), denyAll(), res(NetworkPolicy, "open", map[string]any{"spec": map[string]any{
				"podSelector": map[string]any{"matchLabels": map[string]string{labels.App: labels.ZooKeeper}},
				"policyTypes": []any{"Ingress"}, "ingress": []any{map[string]any{}}}})}},
			{Name: "every namespace", Resources: []Resource{zkSet(3), res(NetworkPolicy, "ns", map[string]any{"spec": map[string]any{
				"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"},
				"ingress": []any{map[string]any{"from": []any{map[string]any{"namespaceSelector": map[string]any{}}}}}}})}},
		},
	}}
}

// selectorSelects evaluates a label selector (matchLabels and matchExpressions) on a pod's
// labels; the empty selector selects every pod.
func selectorSelects(sel property.Value, pod map[string]string) bool {
	for k, v := range labelMap(at(sel, "matchLabels")) {
		if pod[k] != v {
			return false
		}
	}
	exprs := at(sel, "matchExpressions")
	if !exprs.IsArray() {
		return true
	}
	for _, e := range exprs.AsArray().AsSlice() {
		key, _ := str(at(e, "key"))
		op, _ := str(at(e, "operator"))
		v, has := pod[key]
		in := hasString(at(e, "values"), v)
		switch op {
		case "In":
			if !has || !in {
				return false
			}
		case "NotIn":
			if has && in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		}
	}
	return true
}

// openIngress says how a policy's ingress rules admit the whole cluster or the internet: a rule
// without sources, a source that is every namespace, or an address block of everything.
func openIngress(rules property.Value) string {
	if !rules.IsArray() {
		return ""
	}
	for _, rule := range rules.AsArray().AsSlice() {
		from := at(rule, "from")
		if !from.IsArray() || from.AsArray().Len() == 0 {
			return "connections from anywhere (an ingress rule without `from`)"
		}
		for _, peer := range from.AsArray().AsSlice() {
			if ns := at(peer, "namespaceSelector"); ns.IsMap() && len(labelMap(at(ns, "matchLabels"))) == 0 && !at(ns, "matchExpressions").IsArray() {
				return "every namespace (an empty namespaceSelector)"
			}
			if cidr, ok := str(at(peer, "ipBlock", "cidr")); ok && strings.HasSuffix(cidr, "/0") {
				return "every address (" + cidr + ")"
			}
		}
	}
	return ""
}

func hasString(list property.Value, s string) bool {
	if !list.IsArray() {
		return false
	}
	for _, v := range list.AsArray().AsSlice() {
		if x, ok := str(v); ok && x == s {
			return true
		}
	}
	return false
}

func denyAll() Resource {
	return res(NetworkPolicy, "default-deny-ingress", map[string]any{"spec": map[string]any{
		"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"}}})
}

func allowFrom(service string, clients ...string) Resource {
	return res(NetworkPolicy, "allow-"+service, map[string]any{"spec": map[string]any{
		"podSelector": map[string]any{"matchLabels": map[string]string{labels.App: service}},
		"policyTypes": []any{"Ingress"},
		"ingress": []any{map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{
			"matchExpressions": []any{map[string]any{"key": labels.App, "operator": "In", "values": clients}}}}}}},
	}})
}
