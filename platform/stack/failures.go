package stack

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
)

// Failure is one resource a run failed on, with the engine's message for it.
type Failure struct {
	URN     string
	Message string
}

// Failures collects, from a run's engine events, the resources it failed on. Pass Events() to
// the run (optup.EventStreams / optdestroy.EventStreams) and read List() after it returns.
type Failures struct {
	ch   chan events.EngineEvent
	done chan struct{}
	mu   sync.Mutex
	list []Failure
}

// WatchFailures starts collecting.
func WatchFailures() *Failures {
	f := &Failures{ch: make(chan events.EngineEvent), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for e := range f.ch {
			if d := e.DiagnosticEvent; d != nil && d.Severity == "error" && d.URN != "" {
				f.add(d.URN, strings.TrimSpace(d.Message))
			}
			if e.ResOpFailedEvent != nil {
				f.add(e.ResOpFailedEvent.Metadata.URN, "")
			}
		}
	}()
	return f
}

// Events is the channel the engine's events go to; the run closes it when it ends.
func (f *Failures) Events() chan<- events.EngineEvent { return f.ch }

func (f *Failures) add(urn, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.list, func(x Failure) bool { return x.URN == urn })
	if i < 0 {
		f.list = append(f.list, Failure{URN: urn, Message: msg})
		return
	}
	if msg != "" && !strings.Contains(f.list[i].Message, msg) {
		f.list[i].Message = strings.TrimSpace(f.list[i].Message + "\n" + msg)
	}
}

// List is what failed, once the run has ended.
func (f *Failures) List() []Failure {
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

// Explain says, for each failure, which object it is and what its await waited for (see
// kube.Awaits), then the engine's message: the one place to read after a failed run.
func Explain(fs []Failure) string {
	var b strings.Builder
	for _, f := range fs {
		urn := resource.URN(f.URN)
		if !urn.IsValid() {
			continue
		}
		typ := string(urn.Type())
		fmt.Fprintf(&b, "\n  %s %s", typ, urn.Name())
		kind := typ[strings.LastIndex(typ, ":")+1:]
		lower := strings.ToLower(f.Message)
		if a, ok := kube.Awaits[kind]; ok && strings.HasPrefix(typ, "kubernetes:") &&
			(strings.Contains(lower, "timeout") || strings.Contains(lower, "initialize")) {
			fmt.Fprintf(&b, "\n    waited for %s (timeout %s; a workload's grows to its startup window + %s)",
				a.WaitsFor, a.Timeout, kube.Scheduling)
		}
		if strings.Contains(lower, "already exists") {
			fmt.Fprintf(&b, "\n    an object of that name exists but is in no stack's state (a run stopped before "+
				"recording it, with no pending operation left): delete it if nothing else owns it, or import it "+
				"(docs/troubleshooting.md), then run again")
		}
		for _, line := range strings.Split(f.Message, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				fmt.Fprintf(&b, "\n    %s", line)
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "the run failed on:" + b.String()
}
