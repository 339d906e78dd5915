// Package e2e deploys the local stack with the real Pulumi engine (the CLI and the Kubernetes
// provider built into ./bin) onto a local control plane, and checks what the API server holds.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/monitoring"
	"github.com/posthog-deploy/posthog-deploy/platform"
	"github.com/posthog-deploy/posthog-deploy/platform/capture"
	"github.com/posthog-deploy/posthog-deploy/platform/stack"
)

const namespace = "posthog"

// cluster is a control plane started by tools/controlplane.sh for one test, on its own ports
// and state so that it never meets a `make up` cluster.
type cluster struct {
	root, run  string
	kubeconfig string
}

func startCluster(t *testing.T, root, work string) *cluster {
	t.Helper()
	c := &cluster{root: root, run: filepath.Join(work, "controlplane")}
	c.kubeconfig = filepath.Join(c.run, "kubeconfig")
	t.Cleanup(func() { c.script(t, "stop") })
	c.script(t, "start")
	return c
}

func (c *cluster) script(t *testing.T, verb string) {
	cmd := exec.Command(filepath.Join(c.root, "tools", "controlplane.sh"), verb)
	cmd.Env = append(os.Environ(), "RUN="+c.run, "API_PORT=36543", "ETCD_PORT=32479")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("controlplane.sh %s: %v", verb, err)
	}
}

// kubectl runs kubectl against the cluster and decodes its JSON output into out.
func (c *cluster) kubectl(t *testing.T, out any, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", c.kubeconfig, "-n", namespace, "-o", "json"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
}

// nodeZones maps each node to its topology.kubernetes.io/zone label.
func (c *cluster) nodeZones(t *testing.T) map[string]string {
	var nodes struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		} `json:"items"`
	}
	c.kubectl(t, &nodes, "get", "nodes")
	zones := map[string]string{}
	for _, n := range nodes.Items {
		zones[n.Metadata.Name] = n.Metadata.Labels["topology.kubernetes.io/zone"]
	}
	return zones
}

// renderedManifests writes every Kubernetes object the local stack's program sends, as
// captured under mocks (secrets unwrapped to their placeholder values), to one JSON list.
func renderedManifests(t *testing.T, root string) string {
	t.Helper()
	cfg, err := capture.StackFile(filepath.Join(root, "stacks", "Pulumi.local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := capture.Run("local", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var items []any
	for _, r := range rs {
		if !r.Custom || !strings.HasPrefix(r.Type, "kubernetes:") {
			continue
		}
		items = append(items, r.Inputs.MapRepl(nil, func(v resource.PropertyValue) (any, bool) {
			if v.IsSecret() {
				return v.SecretValue().Element.MapRepl(nil, nil), true
			}
			return nil, false
		}))
	}
	b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "manifests.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// unsafeVariant is the platform plus what a careless change could add: ClickHouse settings
// with zero-copy replication on, and a ZooKeeper config with autopurge off.
func unsafeVariant(kubeconfig string) pulumi.RunFunc {
	return extraConfigMap(kubeconfig,
		"<clickhouse><merge_tree><allow_remote_fs_zero_copy_replication>1</allow_remote_fs_zero_copy_replication></merge_tree></clickhouse>",
		"dataDir=/data\nautopurge.purgeInterval=0\n")
}

// extraConfigMap is the platform plus one more ConfigMap holding settings.xml (and zoo.cfg).
func extraConfigMap(kubeconfig, settingsXML string, zooCfg ...string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		if err := platform.Program(ctx); err != nil {
			return err
		}
		kc, err := os.ReadFile(kubeconfig)
		if err != nil {
			return err
		}
		p, err := kubernetes.NewProvider(ctx, "unsafe", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String(string(kc))})
		if err != nil {
			return err
		}
		data := pulumi.StringMap{"settings.xml": pulumi.String(settingsXML)}
		for _, z := range zooCfg {
			data["zoo.cfg"] = pulumi.String(z)
		}
		_, err = corev1.NewConfigMap(ctx, "unsafe-settings", &corev1.ConfigMapArgs{
			Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("unsafe-settings"), Namespace: pulumi.String(namespace)},
			Data:     data,
		}, pulumi.Provider(p))
		return err
	}
}

type list struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Replicas *int   `json:"replicas"`
			NodeName string `json:"nodeName"`
		} `json:"spec"`
		Status struct {
			ReadyReplicas     int    `json:"readyReplicas"`
			AvailableReplicas int    `json:"availableReplicas"`
			Phase             string `json:"phase"`
		} `json:"status"`
		Data map[string]string `json:"data"`
	} `json:"items"`
}

func TestLocalStackUpIdempotentDestroy(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "pulumi-resource-kubernetes")); err != nil {
		t.Fatalf("the toolchain is not built: run this test with `make e2e` (%v)", err)
	}
	work := filepath.Join(root, ".work", "e2e")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, root, work)
	t.Setenv("KUBECONFIG", c.kubeconfig)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s, err := stack.Open(ctx, stack.Paths{Root: root, Work: work}, "local")
	if err != nil {
		t.Fatal(err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = s.Destroy(context.Background(), optdestroy.ProgressStreams(os.Stdout))
		}
	})

	// `make up` killed halfway, then `make up` again: it recovers by itself and says how.
	neverCreated := interruptedUp(t, root, work, c, s)
	stderr := runDriver(t, root, work, c, "up")
	for _, want := range []string{"recovered: removed the stale lock", "its object exists: adopted into the state",
		neverCreated + ": its object does not exist: dropped, the run creates it"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the second up did not say %q:\n%s", want, stderr)
		}
	}
	wholeStack(t, c, s)

	t.Run("workloads are ready", func(t *testing.T) {
		var sets list
		c.kubectl(t, &sets, "get", "statefulsets")
		want := map[string]bool{"zookeeper": true, "kafka": true, "redis": true, "postgres": true, "objectstore": true,
			"chi-posthog-0-0": true, "chi-posthog-0-1": true, "chi-posthog-1-0": true, "chi-posthog-1-1": true}
		for _, s := range sets.Items {
			delete(want, s.Metadata.Name)
			if s.Spec.Replicas == nil || s.Status.ReadyReplicas != *s.Spec.Replicas {
				t.Errorf("StatefulSet %s: %d of %v ready", s.Metadata.Name, s.Status.ReadyReplicas, s.Spec.Replicas)
			}
		}
		if len(want) > 0 {
			t.Errorf("StatefulSets missing: %v", want)
		}
		var deps list
		c.kubectl(t, &deps, "get", "deployments")
		available := map[string]bool{}
		for _, d := range deps.Items {
			available[d.Metadata.Name] = d.Status.AvailableReplicas >= 1
		}
		for _, name := range []string{"pgbouncer", "posthog-web", "posthog-events", "posthog-plugins", "posthog-worker",
			"kafka-exporter", "pushgateway"} {
			if !available[name] {
				t.Errorf("Deployment %s not available", name)
			}
		}
		var pods list
		c.kubectl(t, &pods, "get", "pods", "-l", "app.kubernetes.io/part-of=posthog,!job-name")
		if len(pods.Items) < 18 {
			t.Errorf("%d pods, want at least 18", len(pods.Items))
		}
		for _, p := range pods.Items {
			if p.Status.Phase != "Running" || p.Spec.NodeName == "" {
				t.Errorf("pod %s: phase %s on node %q", p.Metadata.Name, p.Status.Phase, p.Spec.NodeName)
			}
		}
	})

	t.Run("the scheduler spread replicas over zones", func(t *testing.T) {
		zones := c.nodeZones(t)
		zoneOf := func(pod string) string {
			var p struct {
				Spec struct {
					NodeName string `json:"nodeName"`
				} `json:"spec"`
			}
			c.kubectl(t, &p, "get", "pod", pod)
			return zones[p.Spec.NodeName]
		}
		for shard := range 2 {
			a, b := zoneOf(fmt.Sprintf("chi-posthog-%d-0-0", shard)), zoneOf(fmt.Sprintf("chi-posthog-%d-1-0", shard))
			if a == "" || a == b {
				t.Errorf("shard %d: both replicas in zone %q: one zone outage loses the shard", shard, a)
			}
		}
		seen := map[string]bool{}
		for i := range 3 {
			seen[zoneOf(fmt.Sprintf("zookeeper-%d", i))] = true
		}
		if len(seen) != 3 {
			t.Errorf("ZooKeeper members in zones %v, want three different zones", seen)
		}
	})

	t.Run("the API server accepts every object under strict field validation", func(t *testing.T) {
		manifests := renderedManifests(t, root)
		var stderr bytes.Buffer
		cmd := exec.Command("kubectl", "--kubeconfig", c.kubeconfig, "apply", "--server-side", "--force-conflicts",
			"--dry-run=server", "--validate=strict", "-f", manifests)
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil {
			t.Errorf("strict server-side validation failed: %v\n%s", err, stderr.String())
		} else if n := strings.Count(string(out), "serverside-applied (server dry run)"); n < 40 {
			t.Errorf("only %d objects validated:\n%s", n, out)
		}
	})

	t.Run("config reached the cluster", func(t *testing.T) {
		var cms list
		c.kubectl(t, &cms, "get", "configmaps", "-l", "app.kubernetes.io/part-of=posthog")
		found := map[string]map[string]string{}
		for _, cm := range cms.Items {
			found[cm.Metadata.Name] = cm.Data
		}
		if zoo := found["zookeeper"]["zoo.cfg"]; !strings.Contains(zoo, "autopurge.purgeInterval=1") {
			t.Errorf("zoo.cfg in the cluster lacks autopurge:\n%s", zoo)
		}
		if ch := found["clickhouse-config"]["posthog.xml"]; !strings.Contains(ch, "<allow_remote_fs_zero_copy_replication>0<") {
			t.Errorf("ClickHouse config in the cluster does not switch zero-copy off:\n%s", ch)
		}
		var crons list
		c.kubectl(t, &crons, "get", "cronjobs", "-l", "app.kubernetes.io/name=clickhouse-backup")
		if len(crons.Items) != 2 {
			t.Errorf("%d ClickHouse backup schedules, want one per shard", len(crons.Items))
		}
		// Each data service is isolated: a NetworkPolicy selects its pods by their app label.
		var policies struct {
			Items []struct {
				Spec struct {
					PodSelector struct {
						MatchLabels map[string]string `json:"matchLabels"`
					} `json:"podSelector"`
				} `json:"spec"`
			} `json:"items"`
		}
		c.kubectl(t, &policies, "get", "networkpolicies")
		selected := map[string]bool{}
		for _, p := range policies.Items {
			selected[p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"]] = true
		}
		for _, data := range []string{"zookeeper", "kafka", "clickhouse", "redis", "postgres", "objectstore", "pgbouncer"} {
			if !selected[data] {
				t.Errorf("no NetworkPolicy in the cluster selects %s's pods", data)
			}
		}
		var pdbs list
		c.kubectl(t, &pdbs, "get", "poddisruptionbudgets")
		if len(pdbs.Items) < 7 {
			t.Errorf("%d PodDisruptionBudgets, want ZooKeeper's and each ClickHouse shard's", len(pdbs.Items))
		}
	})

	t.Run("the monitors, the alerts and the dashboard reached the cluster", func(t *testing.T) {
		cfg, err := capture.StackFile(filepath.Join(root, "stacks", "Pulumi.local.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := cfg.Parse()
		if err != nil {
			t.Fatal(err)
		}
		var monitors list
		c.kubectl(t, &monitors, "get", "podmonitors.monitoring.coreos.com")
		got := map[string]bool{}
		for _, m := range monitors.Items {
			got[m.Metadata.Name] = true
		}
		targets := platform.Targets(parsed)
		for _, target := range targets {
			if !got[target.Job] {
				t.Errorf("no PodMonitor %s in the cluster", target.Job)
			}
		}
		if !got[monitoring.PushgatewayTarget.Job] || len(got) != len(targets)+1 {
			t.Errorf("PodMonitors %v, want one per target and the Pushgateway's", got)
		}
		var rule struct {
			Spec struct {
				Groups []struct {
					Rules []struct {
						Alert string `json:"alert"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"spec"`
		}
		c.kubectl(t, &rule, "get", "prometheusrules.monitoring.coreos.com", "posthog-alerts")
		alerts := 0
		for _, g := range rule.Spec.Groups {
			alerts += len(g.Rules)
		}
		if alerts < 30 {
			t.Errorf("the PrometheusRule in the cluster holds %d alerts", alerts)
		}
		var dashboards list
		c.kubectl(t, &dashboards, "get", "configmaps", "-l", "grafana_dashboard=1")
		if len(dashboards.Items) == 0 {
			t.Error("no dashboard ConfigMap with the Grafana sidecar's label")
		}
	})

	again, err := s.Up(ctx, optup.ExpectNoChanges())
	if err != nil {
		t.Fatalf("the up after the recovered one changed something (it must not): %v", err)
	}
	for op, n := range *again.Summary.ResourceChanges {
		if op != "same" && n > 0 {
			t.Errorf("the up after the recovered one: %d %s, want only unchanged resources", n, op)
		}
	}

	pack := filepath.Join(root, "bin", "policy-pack")
	if _, err := s.Preview(ctx, optpreview.PolicyPacks(pack), optpreview.ExpectNoChanges()); err != nil {
		t.Errorf("preview with the policy pack failed on the shipped local stack: %v", err)
	}
	t.Run("the engine blocks an unsafe variant", func(t *testing.T) {
		unsafe, err := stack.OpenWith(ctx, stack.Paths{Root: root, Work: work}, "local", unsafeVariant(c.kubeconfig))
		if err != nil {
			t.Fatal(err)
		}
		_, err = unsafe.Preview(ctx, optpreview.PolicyPacks(pack))
		if err == nil {
			t.Fatal("preview of zero-copy replication and autopurge off passed the policy pack")
		}
		for _, want := range []string{"clickhouse-no-zero-copy-replication", "zookeeper-autopurge", "mandatory"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the engine's refusal does not mention %q:\n%v", want, err)
			}
		}
	})

	t.Run("policy config allows an experimental setting for this stack only", func(t *testing.T) {
		variant, err := stack.OpenWith(ctx, stack.Paths{Root: root, Work: work}, "local",
			extraConfigMap(c.kubeconfig, "<clickhouse><profiles><default><allow_experimental_object_type>1</allow_experimental_object_type></default></profiles></clickhouse>"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = variant.Preview(ctx, optpreview.PolicyPacks(pack))
		if err == nil || !strings.Contains(err.Error(), "clickhouse-experimental-settings-allowed") {
			t.Fatalf("an experimental setting not on the allow-list was not blocked: %v", err)
		}
		cfg := filepath.Join(t.TempDir(), "policy-config.json")
		if err := os.WriteFile(cfg, []byte(`{"clickhouse-experimental-settings-allowed": {"allowExperimental": ["allow_experimental_object_type"]}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := variant.Preview(ctx, optpreview.PolicyPacks(pack), optpreview.PolicyPackConfigs(cfg)); err != nil {
			t.Errorf("the stack's policy config allows the setting, yet the preview failed: %v", err)
		}
	})

	t.Run("the data-loss guard stops a change that drops a shard", func(t *testing.T) {
		if err := s.SetConfigWithOptions(ctx, "posthog-deploy:clickhouse.shards", auto.ConfigValue{Value: "1"},
			&auto.ConfigOptions{Path: true}); err != nil {
			t.Fatal(err)
		}
		findings, err := stack.GuardedPreview(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		var lost []string
		for _, f := range findings {
			lost = append(lost, f.URN[strings.LastIndex(f.URN, "::")+2:])
		}
		if strings.Join(lost, " ") != "chi-posthog-1-0 chi-posthog-1-1" && strings.Join(lost, " ") != "chi-posthog-1-1 chi-posthog-1-0" {
			t.Errorf("guard found %v, want the two replicas of shard 1", lost)
		}
		if allowed, err := stack.GuardedPreview(ctx, s, []string{"chi-posthog-1-*"}); err != nil || len(allowed) != 2 {
			// A name is matched exactly; a pattern must be a URN pattern.
			t.Errorf("a bare name pattern must not allow anything: %v, %v", allowed, err)
		}
		if allowed, err := stack.GuardedPreview(ctx, s, []string{"chi-posthog-1-0", "chi-posthog-1-1"}); err != nil || len(allowed) != 0 {
			t.Errorf("allowed resources still reported: %v, %v", allowed, err)
		}
	})

	// `make down` killed halfway, then `make down` again.
	interruptedDestroy(t, root, work, c, s)
	destroyed = true
	var sets list
	c.kubectl(t, &sets, "get", "statefulsets")
	if len(sets.Items) != 0 {
		t.Errorf("%d StatefulSets left after destroy", len(sets.Items))
	}
}
