package rules

import (
	"fmt"

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
	}}
}
