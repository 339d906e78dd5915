package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/posthog-deploy/posthog-deploy/platform/stack"
)

// driver runs bin/stack, as `make up` and `make down` do, on the test's state and cluster.
func driver(root, work string, c *cluster, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(root, "bin", "stack"), append([]string{"-work", work, "-stack", "local"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// runDriver runs the driver to its end and returns its stderr.
func runDriver(t *testing.T, root, work string, c *cluster, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := driver(root, work, c, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, io.MultiWriter(os.Stderr, &stderr)
	if err := cmd.Run(); err != nil {
		t.Fatalf("bin/stack %s: %v", strings.Join(args, " "), err)
	}
	return stderr.String()
}

// interrupt starts the driver and kills it, the CLI and the provider plugins at once (SIGKILL,
// as an out-of-memory kill or a CI timeout would) when stop says so after a line of progress;
// it fails the test if the run ends first.
func interrupt(t *testing.T, root, work string, c *cluster, verb string, stop func(line string) bool) {
	t.Helper()
	cmd := driver(root, work, c, verb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		fmt.Println(sc.Text())
		if stop(sc.Text()) {
			killTree(cmd.Process.Pid)
			killed = true
			break
		}
	}
	_, _ = io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("bin/stack %s ended before it could be interrupted", verb)
	}
	// The test reads the killed run's state through the CLI, which cannot read a save the kill
	// tore in half: repair it first, as the driver's next run does (RepairTornWrites).
	torn, err := stack.RepairTornWrites(filepath.Join(work, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if len(torn) > 0 {
		t.Logf("the kill tore a state save; removed %v", torn)
	}
}

// killTree SIGKILLs pid and every process it started (the plugins leave its process group).
func killTree(pid int) {
	children := map[int][]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so read after the last ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		self, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if len(fields) > 1 {
			ppid, _ := strconv.Atoi(fields[1])
			children[ppid] = append(children[ppid], self)
		}
	}
	var all []int
	var walk func(int)
	walk = func(p int) {
		all = append(all, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	for _, p := range all {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// deployment is the stack's state as the engine left it.
func deployment(t *testing.T, s auto.Stack) apitype.DeploymentV3 {
	t.Helper()
	raw, err := s.Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(raw.Deployment, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// kubectlName is how kubectl names the objects of a Pulumi Kubernetes type.
func kubectlName(typ string) string {
	parts := strings.Split(strings.TrimPrefix(typ, "kubernetes:"), ":") // group/version, kind
	gv := strings.Split(parts[0], "/")
	if gv[0] == "core" {
		return strings.ToLower(parts[1])
	}
	return strings.ToLower(parts[1]) + "." + gv[1] + "." + gv[0]
}

// objectExists reports whether the API server holds the object of a Pulumi Kubernetes resource.
func (c *cluster) objectExists(typ, id string) bool {
	args := []string{"--kubeconfig", c.kubeconfig, "get", kubectlName(typ)}
	if ns, name, namespaced := strings.Cut(id, "/"); namespaced {
		args = append(args, name, "-n", ns)
	} else {
		args = append(args, id)
	}
	return exec.Command("kubectl", args...).Run() == nil
}

// strays are the objects in the namespace, of every kind the stack holds, that no resource of
// the stack owns (objects made by controllers, which carry an owner, and the namespace's
// defaults aside).
func (c *cluster) strays(t *testing.T, d apitype.DeploymentV3) []string {
	t.Helper()
	owned := map[string]bool{}
	kinds := map[string]bool{}
	for _, r := range d.Resources {
		typ := string(r.Type)
		if !strings.HasPrefix(typ, "kubernetes:") || strings.HasPrefix(typ, "kubernetes:core/v1:Namespace") ||
			strings.HasPrefix(typ, "kubernetes:storage") || !strings.Contains(string(r.ID), "/") {
			continue
		}
		kinds[typ] = true
		owned[kubectlName(typ)+" "+string(r.ID)] = true
	}
	defaults := map[string]bool{"configmap posthog/kube-root-ca.crt": true, "serviceaccount posthog/default": true}
	var strays []string
	for typ := range kinds {
		var objs struct {
			Items []struct {
				Metadata struct {
					Name            string `json:"name"`
					OwnerReferences []any  `json:"ownerReferences"`
				} `json:"metadata"`
			} `json:"items"`
		}
		c.kubectl(t, &objs, "get", kubectlName(typ))
		for _, o := range objs.Items {
			key := kubectlName(typ) + " " + namespace + "/" + o.Metadata.Name
			if !owned[key] && !defaults[key] && len(o.Metadata.OwnerReferences) == 0 {
				strays = append(strays, key)
			}
		}
	}
	return strays
}

var inFlight = regexp.MustCompile(`^ \+  kubernetes:core/v1:Service (\S+) creating`)

// interruptedUp kills `make up`'s driver while Services wait for their endpoints, after some
// resources are created, then checks what it left: the lock and pending creates whose objects
// the API server holds. It deletes one of those objects, as if its create had never arrived,
// and returns that resource's URN.
func interruptedUp(t *testing.T, root, work string, c *cluster, s auto.Stack) (neverCreated string) {
	created := 0
	interrupt(t, root, work, c, "up", func(line string) bool {
		if strings.Contains(line, " created (") {
			created++
		}
		m := inFlight.FindStringSubmatch(line)
		if created < 20 || m == nil {
			return false
		}
		// Kill once the API server has the object: created, not yet recorded.
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if c.objectExists("kubernetes:core/v1:Service", namespace+"/"+m[1]) {
				return true
			}
		}
		return false
	})
	locks, _ := filepath.Glob(filepath.Join(stack.LockDir(filepath.Join(work, "state"), "local"), "*.json"))
	if len(locks) != 1 {
		t.Errorf("the killed run left %d locks, want its own", len(locks))
	}
	var orphans []apitype.ResourceV3
	d := deployment(t, s)
	for _, op := range d.PendingOperations {
		meta, _ := op.Resource.Inputs["metadata"].(map[string]any)
		if op.Type == apitype.OperationTypeCreating && c.objectExists(string(op.Resource.Type), fmt.Sprint(meta["namespace"], "/", meta["name"])) {
			orphans = append(orphans, op.Resource)
		}
	}
	if len(orphans) < 2 {
		t.Fatalf("the interrupted run left %d created-but-unrecorded objects, want two to prove anything (pending: %+v)",
			len(orphans), d.PendingOperations)
	}
	t.Logf("the killed run left %d resources, %d pending operations, %d objects created but not recorded",
		len(d.Resources), len(d.PendingOperations), len(orphans))
	// The object deleted behind the state's back is one that holds no volume: a deleted
	// StatefulSet leaves its claim bound to the node its pod ran on, and its recreated pod can
	// then be refused by its shard sibling's zone spread, which is not what this step is about.
	last := orphans[len(orphans)-1]
	for _, o := range orphans {
		if o.Type != "kubernetes:apps/v1:StatefulSet" {
			last = o
		}
	}
	meta := last.Inputs["metadata"].(map[string]any)
	out, err := exec.Command("kubectl", "--kubeconfig", c.kubeconfig, "-n", namespace, "delete", "--wait",
		kubectlName(string(last.Type)), fmt.Sprint(meta["name"])).CombinedOutput()
	if err != nil {
		t.Fatalf("deleting %s: %v: %s", last.URN, err, out)
	}
	return string(last.URN)
}

// wholeStack checks that the state holds every resource once, no pending operation, and that
// the namespace holds nothing the stack does not own.
func wholeStack(t *testing.T, c *cluster, s auto.Stack) {
	t.Helper()
	d := deployment(t, s)
	if len(d.PendingOperations) > 0 {
		t.Errorf("pending operations after a finished run: %+v", d.PendingOperations)
	}
	seen := map[resource.URN]int{}
	for _, r := range d.Resources {
		seen[r.URN]++
		if seen[r.URN] == 2 {
			t.Errorf("%s is in the state twice", r.URN)
		}
	}
	if strays := c.strays(t, d); len(strays) > 0 {
		t.Errorf("objects the stack does not own: %v", strays)
	}
}

// interruptedDestroy kills `make down`'s driver after some deletes, then runs it again: it
// must finish, leaving no resource in the state and no workload in the namespace.
func interruptedDestroy(t *testing.T, root, work string, c *cluster, s auto.Stack) {
	deleted := 0
	interrupt(t, root, work, c, "destroy", func(line string) bool {
		if strings.Contains(line, " deleted (") {
			deleted++
		}
		return deleted >= 10
	})
	if n := len(deployment(t, s).Resources); n < 10 {
		t.Fatalf("the destroy was interrupted with %d resources left: too late to prove anything", n)
	}
	stderr := runDriver(t, root, work, c, "destroy")
	if !strings.Contains(stderr, "removed the stale lock") {
		t.Errorf("the second destroy did not say it removed the killed run's lock:\n%s", stderr)
	}
	if n := len(deployment(t, s).Resources); n != 0 {
		t.Errorf("%d resources left in the state after destroy", n)
	}
}
