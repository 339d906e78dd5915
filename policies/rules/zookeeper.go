package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// properties parses key=value lines (zoo.cfg, server.properties).
func properties(text string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func zooKeeperRules() []Rule {
	return []Rule{{
		ID: "PH-ZK-001", Name: "zookeeper-autopurge",
		Why: "Without autopurge ZooKeeper keeps every snapshot and transaction log until its disk fills and the " +
			"ensemble stops, taking ClickHouse replication and Kafka with it (the seeds' runbook).",
		Fix:      "Set autopurge.purgeInterval to 1 or more hours and autopurge.snapRetainCount to 3 or more (posthog-deploy:zookeeper.purgeIntervalHours, .snapRetainCount).",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{ConfigMap},
		Check: func(_ Context, r Resource) []string {
			cfg, ok := configFile(r, "zoo.cfg")
			if !ok {
				return nil
			}
			p := properties(cfg)
			var out []string
			if n, ok := atoi(p["autopurge.purgeInterval"]); !ok || n < 1 {
				out = append(out, fmt.Sprintf("zoo.cfg: autopurge.purgeInterval is %q: autopurge is off", p["autopurge.purgeInterval"]))
			}
			if n, ok := atoi(p["autopurge.snapRetainCount"]); !ok || n < 3 {
				out = append(out, fmt.Sprintf("zoo.cfg: autopurge.snapRetainCount is %q, below 3", p["autopurge.snapRetainCount"]))
			}
			return out
		},
		Pass: []Fixture{{Name: "on", Resources: []Resource{configMap("zookeeper", "zoo.cfg",
			"dataDir=/data\nautopurge.purgeInterval=1\nautopurge.snapRetainCount=5\n")}}},
		Fail: []Fixture{
			{Name: "off", Resources: []Resource{configMap("zookeeper", "zoo.cfg", "dataDir=/data\nautopurge.purgeInterval=0\nautopurge.snapRetainCount=5\n")}},
			{Name: "missing", Resources: []Resource{configMap("zookeeper", "zoo.cfg", "dataDir=/data\n")}},
			{Name: "too few snapshots", Resources: []Resource{configMap("zookeeper", "zoo.cfg", "autopurge.purgeInterval=1\nautopurge.snapRetainCount=2\n")}},
		},
	}, {
		ID: "PH-ZK-002", Name: "zookeeper-quorum",
		Why:      "An ensemble of fewer than 3, or of an even number, loses quorum with one node; even sizes tolerate no more failures than the odd size below them.",
		Fix:      "Set posthog-deploy:zookeeper.replicas to 3 or 5 in staging and prod.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{StatefulSet},
		Check: func(ctx Context, r Resource) []string {
			l := labelMap(at(props(r), "spec", "template", "metadata", "labels"))
			if l[labels.App] != labels.ZooKeeper || !ctx.HA() {
				return nil
			}
			n, ok := num(at(props(r), "spec", "replicas"))
			if !ok {
				return nil
			}
			if n < 3 || int(n)%2 == 0 {
				return []string{fmt.Sprintf("the ensemble has %d members in %s; it needs an odd number, at least 3", int(n), envName(ctx))}
			}
			return nil
		},
		Pass: []Fixture{
			{Name: "3", Context: Context{Environment: "prod"}, Resources: []Resource{zkSet(3)}},
			{Name: "dev 1", Context: Context{Environment: "dev"}, Resources: []Resource{zkSet(1)}},
		},
		Fail: []Fixture{
			{Name: "1 in prod", Context: Context{Environment: "prod"}, Resources: []Resource{zkSet(1)}},
			{Name: "4", Context: Context{Environment: "staging"}, Resources: []Resource{zkSet(4)}},
		},
	}}
}

func zkSet(n int) Resource {
	return workload(StatefulSet, "zookeeper", n, map[string]string{labels.App: labels.ZooKeeper}, container("zookeeper:3.8.4", nil), nil)
}
