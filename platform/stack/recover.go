package stack

// Recovery from a run that stopped halfway (a killed CI job, a laptop lid, an out-of-memory kill).
// Such a run leaves two things behind: the state backend's lock, held by a process that is gone,
// and pending operations: the engine records "creating X" before it asks the provider, and only
// records X once the provider answers, so an object created in the cloud or the cluster just
// before the kill is in no stack's state. The next `up` then fails on it ("already exists").
//
// Recover resolves both before a run, and says what it did:
//   - a lock of the file backend written by a process of this host that no longer runs is removed;
//     any other lock is reported with who holds it and how to release it;
//   - a pending create whose ID is known (every Kubernetes object: <namespace>/<name>, the ID the
//     provider gives it) is adopted: put into the state with that ID, then refreshed, which keeps
//     it if the object exists (the next `up` updates it to the program's inputs) and drops it if
//     the create never reached the API server. Pending creates of other providers are listed
//     with the exact driver command that adopts (-adopt URN=ID) or forgets (-forget URN) them;
//     the run stops there rather than create a second database or cluster.
//
// Pulumi's own `refresh --import-pending-creates` is the upstream tool for this, but at CLI
// v3.259 it drops the operation without adding the resource (measured here: the object stays
// orphaned), so the driver edits the exported state instead, the documented way to repair a
// stack (auto.Stack.Export/Import), and lets the engine's refresh decide what exists.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/posthog-deploy/posthog-deploy/config"
)

// Lock is one lock file of the file state backend, as the Pulumi CLI writes it.
type Lock struct {
	File      string    `json:"-"`
	Pid       int       `json:"pid"`
	Username  string    `json:"username"`
	Hostname  string    `json:"hostname"`
	Timestamp time.Time `json:"timestamp"`
}

func (l Lock) String() string {
	return fmt.Sprintf("%s@%s (pid %d) since %s", l.Username, l.Hostname, l.Pid, l.Timestamp.Format(time.RFC3339))
}

// LockDir is where the file backend under state keeps the locks of a stack of this project.
func LockDir(state, stack string) string {
	return filepath.Join(state, ".pulumi", "locks", "organization", config.Namespace, stack)
}

// Host is what a lock is judged against: this machine's name and whether a process of it is a
// running Pulumi CLI.
type Host struct {
	Name    string
	RunsCLI func(pid int) bool
}

// ThisHost is the machine the driver runs on.
func ThisHost() Host {
	name, _ := os.Hostname()
	return Host{Name: name, RunsCLI: runsPulumi}
}

// runsPulumi reports whether pid is a live process whose command is the Pulumi CLI. A pid that
// runs something else is a reused pid: the CLI that took the lock is gone.
func runsPulumi(pid int) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		// No such process (or no /proc: then say alive, and leave the lock to the user).
		_, statErr := os.Stat("/proc/self")
		return statErr != nil
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return strings.Contains(filepath.Base(argv0), "pulumi")
}

// ClearStaleLocks removes the locks in dir held by processes of host that no longer run, and
// returns them; a lock it cannot judge stale (another host, a live CLI) is an error that names
// its holder and how to release it.
func ClearStaleLocks(dir string, host Host) ([]Lock, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed, held []Lock
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(file)
		if err != nil {
			return removed, err
		}
		l := Lock{File: file}
		if err := json.Unmarshal(b, &l); err != nil {
			return removed, fmt.Errorf("lock %s is not a Pulumi lock file: %w", file, err)
		}
		if l.Hostname != host.Name || host.RunsCLI(l.Pid) {
			held = append(held, l)
			continue
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, l)
	}
	if len(held) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "the stack is locked by a run that may still be going:")
		for _, l := range held {
			fmt.Fprintf(&b, "\n  %s: %s", l, l.File)
			if l.Hostname == host.Name {
				fmt.Fprintf(&b, " (pid %d runs the Pulumi CLI on this host: wait for it, or stop it)", l.Pid)
			} else {
				fmt.Fprintf(&b, " (another host: if that run is gone, delete this file or run `pulumi cancel` with the same backend)")
			}
		}
		return removed, errors.New(b.String())
	}
	return removed, nil
}

// Resolution is what to do with a state's pending creates.
type Resolution struct {
	// Adopt maps the URN of a pending create to the ID its object would have.
	Adopt map[string]string
	// Forget are pending creates to drop: the user knows the object does not exist.
	Forget []string
	// Unresolved are pending creates the driver cannot judge, with why.
	Unresolved []Pending
}

// Pending is one pending create the driver cannot resolve by itself.
type Pending struct {
	URN  string
	Type string
	// Name is the object's name in its cloud, where the inputs hold one (a hint for the ID).
	Name string
}

// ResolvePending decides, for each pending create of d, to adopt it under the ID the provider
// gives it (Kubernetes objects; or the ID in adopt), to forget it (listed in forget), or that
// the user must say (Unresolved). Other pending operations (updates, deletes) are the engine's:
// it clears them on the next run.
func ResolvePending(d apitype.DeploymentV3, adopt map[string]string, forget []string) Resolution {
	r := Resolution{Adopt: map[string]string{}}
	for _, op := range d.PendingOperations {
		if op.Type != apitype.OperationTypeCreating {
			continue
		}
		urn := string(op.Resource.URN)
		if id, ok := adopt[urn]; ok {
			r.Adopt[urn] = id
			continue
		}
		if slices.Contains(forget, urn) {
			r.Forget = append(r.Forget, urn)
			continue
		}
		if id, ok := kubernetesID(op.Resource); ok {
			r.Adopt[urn] = id
			continue
		}
		r.Unresolved = append(r.Unresolved, Pending{URN: urn, Type: string(op.Resource.Type), Name: cloudName(op.Resource.Inputs)})
	}
	return r
}

// kubernetesID is the ID the Kubernetes provider gives an object: "<namespace>/<name>", or the
// name of a cluster-scoped object (pulumi-kubernetes provider/pkg/provider/util.go fqObjName).
// The name is in the inputs: set by the program, or auto-named by the engine before the create.
func kubernetesID(r apitype.ResourceV3) (string, bool) {
	if !strings.HasPrefix(string(r.Type), "kubernetes:") || strings.HasPrefix(string(r.Type), "kubernetes:helm") {
		return "", false
	}
	meta, _ := r.Inputs["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return "", false
	}
	if ns, _ := meta["namespace"].(string); ns != "" {
		return ns + "/" + name, true
	}
	return name, true
}

// cloudName is the name a cloud resource was being created with, if its inputs say.
func cloudName(inputs map[string]any) string {
	for _, k := range []string{"name", "identifier", "bucket", "clusterIdentifier"} {
		if s, ok := inputs[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// Apply moves the adopted pending creates into d's resources under their IDs and drops the
// forgotten ones; it returns the adopted URNs in state order.
func (r Resolution) Apply(d *apitype.DeploymentV3) []string {
	var kept []apitype.OperationV2
	var adopted []string
	for _, op := range d.PendingOperations {
		urn := string(op.Resource.URN)
		id, adopt := r.Adopt[urn]
		switch {
		case op.Type == apitype.OperationTypeCreating && adopt:
			res := op.Resource
			res.ID = resource.ID(id)
			// A pending create has no outputs yet; the refresh that follows reads them.
			res.Outputs = nil
			d.Resources = append(d.Resources, res)
			adopted = append(adopted, urn)
		case op.Type == apitype.OperationTypeCreating && slices.Contains(r.Forget, urn):
		default:
			kept = append(kept, op)
		}
	}
	d.PendingOperations = kept
	return adopted
}

// Commands are the driver commands that settle the unresolved pending creates of stack.
func (r Resolution) Commands(stack string) string {
	var b strings.Builder
	for _, p := range r.Unresolved {
		hint := "<ID>"
		if p.Name != "" {
			hint = "<ID of " + p.Name + ">"
		}
		fmt.Fprintf(&b, "\n  %s (%s), interrupted while creating:", p.URN, p.Type)
		fmt.Fprintf(&b, "\n    exists:        bin/stack -stack %s -adopt '%s=%s' up", stack, p.URN, hint)
		fmt.Fprintf(&b, "\n    never created: bin/stack -stack %s -forget '%s' up", stack, p.URN)
	}
	return b.String()
}

// RepairTornWrites removes the files a run killed while the file backend was saving a state
// leaves behind under state. The backend (gocloud.dev's fileblob) writes a blob's "<name>.attrs"
// sidecar with os.Create and then renames the blob's temp file ("<name>.<hex>.tmp") into place:
// a kill in between leaves an empty or partial sidecar, which fails every later read of the
// stack ("failed to load checkpoint: EOF"), and the temp file. The blob itself is the last
// complete state; a missing sidecar reads as no metadata. It returns the files it removed.
func RepairTornWrites(state string) ([]string, error) {
	var removed []string
	err := filepath.WalkDir(filepath.Join(state, ".pulumi"), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		torn := false
		switch {
		case strings.HasSuffix(path, ".attrs"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var attrs map[string]any
			torn = json.Unmarshal(b, &attrs) != nil
		case tempBlob.MatchString(e.Name()):
			torn = true
		}
		if !torn {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		removed = append(removed, path)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return removed, nil
	}
	return removed, err
}

// tempBlob is the name of a blob fileblob was still writing.
var tempBlob = regexp.MustCompile(`\.[0-9a-f]{16}\.tmp$`)

// Recovered is what Recover did.
type Recovered struct {
	// Torn are the files of a state write a killed run left half done (RepairTornWrites).
	Torn      []string
	Locks     []Lock
	Adopted   []string
	Forgotten []string
	// Kept are the adopted URNs whose object existed (the refresh kept them).
	Kept []string
}

// Report says what Recover did, one line each; "" when it did nothing.
func (r Recovered) Report() string {
	var b strings.Builder
	for _, f := range r.Torn {
		fmt.Fprintf(&b, "recovered: removed %s, left by a run killed while it saved the state\n", f)
	}
	for _, l := range r.Locks {
		fmt.Fprintf(&b, "recovered: removed the stale lock of %s (the process is gone): %s\n", l, l.File)
	}
	for _, urn := range r.Adopted {
		verb := "its object does not exist: dropped, the run creates it"
		if slices.Contains(r.Kept, urn) {
			verb = "its object exists: adopted into the state"
		}
		fmt.Fprintf(&b, "recovered: pending create of %s: %s\n", urn, verb)
	}
	for _, urn := range r.Forgotten {
		fmt.Fprintf(&b, "recovered: pending create of %s: forgotten, as asked\n", urn)
	}
	return b.String()
}

// Recover makes the stack runnable after an interrupted run: stale locks removed, pending
// creates adopted or forgotten (see the file comment). It changes nothing when the last run
// finished. Progress of the refresh it may run goes to out.
func Recover(ctx context.Context, s auto.Stack, p Paths, adopt map[string]string, forget []string, out io.Writer) (Recovered, error) {
	var rec Recovered
	torn, err := RepairTornWrites(filepath.Join(p.Work, "state"))
	rec.Torn = torn
	if err != nil {
		return rec, err
	}
	locks, err := ClearStaleLocks(LockDir(filepath.Join(p.Work, "state"), s.Name()), ThisHost())
	rec.Locks = locks
	if err != nil {
		return rec, err
	}
	raw, err := s.Export(ctx)
	if err != nil {
		return rec, err
	}
	var d apitype.DeploymentV3
	if len(raw.Deployment) > 0 {
		if err := json.Unmarshal(raw.Deployment, &d); err != nil {
			return rec, fmt.Errorf("reading the state of stack %s: %w", s.Name(), err)
		}
	}
	r := ResolvePending(d, adopt, forget)
	if len(r.Unresolved) > 0 {
		return rec, fmt.Errorf("stack %s: an interrupted run left %d pending create(s) the driver cannot judge "+
			"(it does not know their IDs); look each up in the cloud's console or CLI, then run one of:%s",
			s.Name(), len(r.Unresolved), r.Commands(s.Name()))
	}
	if len(r.Adopt) == 0 && len(r.Forget) == 0 {
		return rec, nil
	}
	rec.Adopted, rec.Forgotten = r.Apply(&d), r.Forget
	b, err := json.Marshal(d)
	if err != nil {
		return rec, err
	}
	raw.Deployment = b
	if err := s.Import(ctx, raw); err != nil {
		return rec, fmt.Errorf("writing the repaired state of stack %s: %w", s.Name(), err)
	}
	if len(rec.Adopted) == 0 {
		return rec, nil
	}
	// The refresh reads each adopted object by its ID: kept if it exists, dropped if not.
	if _, err := s.Refresh(ctx, optrefresh.Target(rec.Adopted), optrefresh.ProgressStreams(out)); err != nil {
		return rec, fmt.Errorf("refreshing the adopted resources of stack %s: %w", s.Name(), err)
	}
	after, err := s.Export(ctx)
	if err != nil {
		return rec, err
	}
	var now apitype.DeploymentV3
	if err := json.Unmarshal(after.Deployment, &now); err != nil {
		return rec, err
	}
	for _, res := range now.Resources {
		if slices.Contains(rec.Adopted, string(res.URN)) {
			rec.Kept = append(rec.Kept, string(res.URN))
		}
	}
	return rec, nil
}
