//go:build e2e

// Package e2e deploys the local stack with the real Pulumi engine (the CLI and the Kubernetes
// provider built into ./bin) onto a local control plane, and checks what the API server holds.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

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

	up, err := s.Up(ctx, optup.ProgressStreams(os.Stdout))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if created := (*up.Summary.ResourceChanges)["create"]; created < 20 {
		t.Errorf("up created %d resources, want the whole platform", created)
	}
	if !strings.Contains(up.StdOut+up.StdErr, "posthog-web") {
		t.Errorf("up output does not mention posthog-web")
	}

	t.Run("workloads are ready", func(t *testing.T) {
		var sets list
		c.kubectl(t, &sets, "get", "statefulsets")
		want := map[string]bool{"zookeeper": true, "postgres": true, "chi-posthog-0-0": true}
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
		if len(deps.Items) != 1 || deps.Items[0].Metadata.Name != "posthog-web" || deps.Items[0].Status.AvailableReplicas < 1 {
			t.Errorf("posthog-web not available: %+v", deps.Items)
		}
		var pods list
		c.kubectl(t, &pods, "get", "pods")
		if len(pods.Items) < 4 {
			t.Errorf("%d pods, want at least 4", len(pods.Items))
		}
		for _, p := range pods.Items {
			if p.Status.Phase != "Running" || p.Spec.NodeName == "" {
				t.Errorf("pod %s: phase %s on node %q", p.Metadata.Name, p.Status.Phase, p.Spec.NodeName)
			}
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
		var pdbs list
		c.kubectl(t, &pdbs, "get", "poddisruptionbudgets")
		if len(pdbs.Items) < 2 {
			t.Errorf("%d PodDisruptionBudgets, want ZooKeeper's and each ClickHouse shard's", len(pdbs.Items))
		}
	})

	again, err := s.Up(ctx, optup.ExpectNoChanges())
	if err != nil {
		t.Fatalf("second up changed something (it must not): %v", err)
	}
	for op, n := range *again.Summary.ResourceChanges {
		if op != "same" && n > 0 {
			t.Errorf("second up: %d %s, want only unchanged resources", n, op)
		}
	}

	if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(os.Stdout)); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	var sets list
	c.kubectl(t, &sets, "get", "statefulsets")
	if len(sets.Items) != 0 {
		t.Errorf("%d StatefulSets left after destroy", len(sets.Items))
	}
}
