package stack

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

func writeLock(t *testing.T, dir string, l Lock) string {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, l.Username+"-"+l.Hostname+".json")
	write(t, file, string(b))
	return file
}

func TestAStaleLockOfThisHostIsRemovedAndOthersAreNamed(t *testing.T) {
	dir := LockDir(t.TempDir(), "local")
	at := time.Date(2026, 11, 24, 5, 33, 8, 0, time.UTC)
	gone := writeLock(t, dir, Lock{Pid: 17920, Username: "ci", Hostname: "vm", Timestamp: at})
	host := Host{Name: "vm", RunsCLI: func(pid int) bool { return false }}

	removed, err := ClearStaleLocks(dir, host)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Pid != 17920 || removed[0].File != gone {
		t.Errorf("removed %+v, want the lock of pid 17920", removed)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("the stale lock is still there: %v", err)
	}

	other := writeLock(t, dir, Lock{Pid: 17920, Username: "ops", Hostname: "laptop", Timestamp: at})
	live := writeLock(t, dir, Lock{Pid: 42, Username: "ci", Hostname: "vm", Timestamp: at})
	host.RunsCLI = func(pid int) bool { return pid == 42 }
	removed, err = ClearStaleLocks(dir, host)
	if err == nil || len(removed) != 0 {
		t.Fatalf("locks of another host and of a live CLI were not reported: %v, %v", removed, err)
	}
	for _, want := range []string{"ops@laptop (pid 17920) since 2026-11-24T05:33:08Z", other, "another host",
		"ci@vm (pid 42)", live, "runs the Pulumi CLI on this host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	for _, f := range []string{other, live} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a lock that may be held was removed: %v", err)
		}
	}
}

func TestNoLockDirIsNoLock(t *testing.T) {
	removed, err := ClearStaleLocks(filepath.Join(t.TempDir(), "none"), ThisHost())
	if err != nil || len(removed) != 0 {
		t.Errorf("ClearStaleLocks = %v, %v", removed, err)
	}
}

// A process runs the CLI only if its command is pulumi: a pid reused by another program (this
// test) does not hold the lock, and a pid that is gone does not either.
func TestRunsPulumiLooksAtTheProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("no /proc on this system")
	}
	if runsPulumi(os.Getpid()) {
		t.Error("the test process was taken for the Pulumi CLI")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "pulumi")
	if err := os.Symlink(sleep, fake); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// Until the child has exec'd, its command line is still the test binary's.
	for end := time.Now().Add(5 * time.Second); !runsPulumi(pid) && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if !runsPulumi(pid) {
		t.Errorf("a running %s was not taken for the CLI", fake)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if runsPulumi(pid) {
		t.Errorf("pid %d is gone but was taken for a live CLI", pid)
	}
}

// interrupted is the state a killed `up` left, trimmed from a real run on the local control
// plane (plus one cloud create and one delete in the same shape).
func interrupted(t *testing.T) apitype.DeploymentV3 {
	t.Helper()
	b, err := os.ReadFile("testdata/interrupted-up.json")
	if err != nil {
		t.Fatal(err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

const (
	shard10 = "urn:pulumi:local::posthog-deploy::posthog-deploy:data:ClickHouse$kubernetes:core/v1:Service::chi-posthog-1-0"
	shard11 = "urn:pulumi:local::posthog-deploy::posthog-deploy:data:ClickHouse$kubernetes:core/v1:Service::chi-posthog-1-1"
	rds     = "urn:pulumi:aws-prod::posthog-deploy::posthog-deploy:aws:Foundation$aws:rds/instance:Instance::postgres"
	ns      = "urn:pulumi:local::posthog-deploy::posthog-deploy:local:Foundation$posthog-deploy:kube:Cluster$kubernetes:core/v1:Namespace::posthog"
)

func TestKubernetesPendingCreatesAreAdoptedUnderTheProvidersID(t *testing.T) {
	d := interrupted(t)
	r := ResolvePending(d, nil, nil)
	if r.Adopt[shard10] != "posthog/chi-posthog-1-0" || r.Adopt[shard11] != "posthog/chi-posthog-1-1" || len(r.Adopt) != 2 {
		t.Errorf("adopt = %v, want the two Services under <namespace>/<name>", r.Adopt)
	}
	if len(r.Unresolved) != 1 || r.Unresolved[0].URN != rds || r.Unresolved[0].Name != "posthog-prod-0a1b2c3" {
		t.Fatalf("unresolved = %+v, want the RDS instance with its identifier", r.Unresolved)
	}
	cmds := r.Commands("aws-prod")
	for _, want := range []string{
		"bin/stack -stack aws-prod -adopt '" + rds + "=<ID of posthog-prod-0a1b2c3>' up",
		"bin/stack -stack aws-prod -forget '" + rds + "' up",
	} {
		if !strings.Contains(cmds, want) {
			t.Errorf("the commands lack %q:\n%s", want, cmds)
		}
	}

	given := ResolvePending(d, map[string]string{rds: "posthog-prod-0a1b2c3"}, []string{shard11})
	if given.Adopt[rds] != "posthog-prod-0a1b2c3" || len(given.Unresolved) != 0 {
		t.Errorf("an ID given with -adopt was not used: %+v", given)
	}
	if _, adopted := given.Adopt[shard11]; adopted || len(given.Forget) != 1 || given.Forget[0] != shard11 {
		t.Errorf("a URN given with -forget was not forgotten: %+v", given)
	}
}

func TestApplyMovesAdoptedCreatesIntoTheStateAndKeepsTheRest(t *testing.T) {
	d := interrupted(t)
	before := len(d.Resources)
	r := ResolvePending(d, map[string]string{rds: "posthog-prod-0a1b2c3"}, []string{shard11})
	adopted := r.Apply(&d)

	if strings.Join(adopted, " ") != shard10+" "+rds {
		t.Errorf("adopted %v", adopted)
	}
	if len(d.Resources) != before+2 {
		t.Fatalf("%d resources, want %d", len(d.Resources), before+2)
	}
	svc := d.Resources[before]
	if string(svc.URN) != shard10 || string(svc.ID) != "posthog/chi-posthog-1-0" || svc.Outputs != nil ||
		svc.Provider == "" || svc.Parent == "" || svc.Inputs["metadata"] == nil {
		t.Errorf("adopted Service = %+v: want its ID, inputs, parent and provider, and no outputs until the refresh", svc)
	}
	if len(d.PendingOperations) != 1 || d.PendingOperations[0].Type != apitype.OperationTypeDeleting {
		t.Errorf("pending = %+v, want only the interrupted delete (the engine's to clear)", d.PendingOperations)
	}
	seen := map[string]int{}
	for _, res := range d.Resources {
		seen[string(res.URN)]++
	}
	for urn, n := range seen {
		if n != 1 {
			t.Errorf("%s is %d times in the state", urn, n)
		}
	}
}

func TestKubernetesID(t *testing.T) {
	for _, c := range []struct {
		typ  string
		meta map[string]any
		id   string
		ok   bool
	}{
		{"kubernetes:core/v1:Service", map[string]any{"name": "kafka", "namespace": "posthog"}, "posthog/kafka", true},
		{"kubernetes:core/v1:Namespace", map[string]any{"name": "posthog"}, "posthog", true},
		{"kubernetes:storage.k8s.io/v1:StorageClass", map[string]any{"name": "posthog-ssd"}, "posthog-ssd", true},
		{"kubernetes:core/v1:ConfigMap", map[string]any{}, "", false},
		{"kubernetes:helm.sh/v3:Release", map[string]any{"name": "ingress"}, "", false},
		{"gcp:sql/databaseInstance:DatabaseInstance", map[string]any{"name": "pg"}, "", false},
	} {
		id, ok := kubernetesID(apitype.ResourceV3{Type: tokens.Type(c.typ), Inputs: map[string]any{"metadata": c.meta}})
		if id != c.id || ok != c.ok {
			t.Errorf("%s %v: %q, %v; want %q, %v", c.typ, c.meta, id, ok, c.id, c.ok)
		}
	}
}

func TestReportSaysWhatWasDone(t *testing.T) {
	r := Recovered{
		Locks:     []Lock{{File: "/s/.pulumi/locks/x.json", Pid: 7, Username: "ci", Hostname: "vm"}},
		Adopted:   []string{shard10, shard11},
		Kept:      []string{shard10},
		Forgotten: []string{rds},
	}
	got := r.Report()
	for _, want := range []string{
		"removed the stale lock of ci@vm (pid 7)", "/s/.pulumi/locks/x.json",
		shard10 + ": its object exists: adopted into the state",
		shard11 + ": its object does not exist: dropped, the run creates it",
		rds + ": forgotten, as asked",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if (Recovered{}).Report() != "" {
		t.Error("a clean stack reported a recovery")
	}
}

func TestExplainNamesTheObjectAndWhatItWaitedFor(t *testing.T) {
	got := Explain([]Failure{
		{URN: shard10, Message: "resource posthog/chi-posthog-1-0 was successfully created, but the Kubernetes API server " +
			"reported that it failed to fully initialize or become live: Timeout occurred polling for 'chi-posthog-1-0'"},
		{URN: "urn:pulumi:local::posthog-deploy::posthog-deploy:data:Kafka$kubernetes:core/v1:Service::kafka",
			Message: `resource posthog/kafka was not successfully created by the Kubernetes API server : services "kafka" already exists`},
		{URN: rds, Message: "creating RDS instance: timeout while waiting for state to become 'available'"},
	})
	for _, want := range []string{
		"kubernetes:core/v1:Service chi-posthog-1-0\n    waited for endpoints: pods that match its selector (timeout 5m0s",
		"Timeout occurred polling for 'chi-posthog-1-0'",
		"kubernetes:core/v1:Service kafka\n    an object of that name exists but is in no stack's state",
		"aws:rds/instance:Instance postgres\n    creating RDS instance",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("explanation lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "waited for") != 1 {
		t.Errorf("only the await that timed out waited:\n%s", got)
	}
	if Explain(nil) != "" {
		t.Error("nothing failed, yet there is an explanation")
	}
}

// TestRepairTornWritesRemovesWhatAKilledSaveLeft: the empty sidecar and the temp blob a kill
// between fileblob's two steps leaves are removed; the state itself, a sound sidecar, and the
// backups are kept; a state directory that does not exist yet is no error.
func TestRepairTornWritesRemovesWhatAKilledSaveLeft(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, ".pulumi", "stacks", "posthog-deploy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"local.json":                      `{"version": 3}`,
		"local.json.attrs":                "",
		"local.json.18eaf18d47314b79.tmp": `{"vers`,
		"local.json.bak":                  `{"version": 3}`,
		"local.json.bak.attrs":            `{"user.cache_control":"","user.content_type":"application/octet-stream"}`,
		"other.json.attrs":                `{"user.content_type":"applic`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RepairTornWrites(state)
	if err != nil {
		t.Fatal(err)
	}
	for i := range removed {
		removed[i] = filepath.Base(removed[i])
	}
	slices.Sort(removed)
	if want := []string{"local.json.18eaf18d47314b79.tmp", "local.json.attrs", "other.json.attrs"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, kept := range []string{"local.json", "local.json.bak", "local.json.bak.attrs"} {
		if _, err := os.Stat(filepath.Join(dir, kept)); err != nil {
			t.Errorf("%s was removed: %v", kept, err)
		}
	}
	if removed, err := RepairTornWrites(filepath.Join(state, "none")); err != nil || len(removed) > 0 {
		t.Errorf("a missing state directory: removed %v, err %v", removed, err)
	}
}
