// Command stack runs this project's Pulumi program on a stack through the Automation API
// (the program inline, no language host needed): `make up`, `make down` and the end-to-end
// tests use it; with the official CLI, `pulumi up --stack <name>` does the same.
//
//	go run ./cmd/stack [-stack local] [-policy-pack bin/policy-pack] [-expect-no-changes] [-guard] up|preview|destroy|outputs
//
// Before up and destroy it recovers from an interrupted run (see stack.Recover): a stale lock of
// this host is removed, pending creates are adopted or, where it cannot tell, listed with the
// -adopt/-forget commands that settle them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/posthog-deploy/posthog-deploy/platform/stack"
)

func main() {
	name := flag.String("stack", "local", "the stack: a file stacks/Pulumi.<stack>.yaml")
	policyPack := flag.String("policy-pack", "", "a policy pack (folder or built executable) the engine runs on every resource")
	noChanges := flag.Bool("expect-no-changes", false, "fail if up or preview would change anything")
	refresh := flag.Bool("refresh", false, "up: read the cluster's objects first, so state left from a cluster that is gone is reconciled")
	guarded := flag.Bool("guard", false, "preview only: fail if the change would replace or delete a data resource")
	allow := flag.String("allow-data-loss", "", "with -guard: comma-separated names or URN patterns a reviewer accepts losing")
	work := flag.String("work", "", "where the state, plugins and workspaces live (default: .work/ in the repository)")
	var adopt, forget listFlag
	flag.Var(&adopt, "adopt", "URN=ID: a pending create of an interrupted run whose object exists under ID (repeatable)")
	flag.Var(&forget, "forget", "URN: a pending create of an interrupted run whose object was never created (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: stack [flags] up|preview|destroy|outputs\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	o := options{noChanges: *noChanges, refresh: *refresh, guard: *guarded, allow: splitList(*allow), forget: forget}
	o.adopt = map[string]string{}
	for _, a := range adopt {
		urn, id, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(urn, "urn:pulumi:") || id == "" {
			fmt.Fprintf(os.Stderr, "error: -adopt %q: want URN=ID, e.g. -adopt 'urn:pulumi:…::postgres=posthog-prod'\n", a)
			os.Exit(2)
		}
		o.adopt[urn] = id
	}
	if *work != "" {
		abs, err := filepath.Abs(*work)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(2)
		}
		o.work = abs
	}
	if *policyPack != "" {
		// The CLI runs in the stack's workspace, not here: give it the pack's absolute path.
		abs, err := filepath.Abs(*policyPack)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(2)
		}
		o.policyPack = abs
	}
	if err := run(context.Background(), flag.Arg(0), *name, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type options struct {
	policyPack string
	noChanges  bool
	refresh    bool
	guard      bool
	allow      []string
	work       string
	adopt      map[string]string
	forget     []string
}

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func run(ctx context.Context, verb, name string, o options) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	paths, err := stack.FindRoot(wd)
	if err != nil {
		return err
	}
	if o.work != "" {
		paths.Work = o.work
	}
	s, err := stack.Open(ctx, paths, name)
	if err != nil {
		return err
	}
	if verb == "up" || verb == "destroy" {
		rec, err := stack.Recover(ctx, s, paths, o.adopt, o.forget, os.Stdout)
		fmt.Fprint(os.Stderr, rec.Report())
		if err != nil {
			return err
		}
	}
	switch verb {
	case "up":
		failures := stack.WatchFailures()
		opts := []optup.Option{optup.ProgressStreams(os.Stdout), optup.ErrorProgressStreams(os.Stderr),
			optup.EventStreams(failures.Events())}
		if o.policyPack != "" {
			opts = append(opts, optup.PolicyPacks(o.policyPack))
		}
		if o.noChanges {
			opts = append(opts, optup.ExpectNoChanges())
		}
		if o.refresh {
			opts = append(opts, optup.Refresh())
		}
		if _, err := s.Up(ctx, opts...); err != nil {
			return explained(err, failures)
		}
		return printOutputs(ctx, s)
	case "preview":
		opts := []optpreview.Option{optpreview.ProgressStreams(os.Stdout), optpreview.ErrorProgressStreams(os.Stderr)}
		if o.policyPack != "" {
			opts = append(opts, optpreview.PolicyPacks(o.policyPack))
		}
		if o.noChanges {
			opts = append(opts, optpreview.ExpectNoChanges())
		}
		if !o.guard {
			_, err := s.Preview(ctx, opts...)
			return err
		}
		findings, err := stack.GuardedPreview(ctx, s, o.allow, opts...)
		if err != nil {
			return err
		}
		for _, f := range findings {
			fmt.Fprintln(os.Stderr, "data loss:", f)
		}
		if len(findings) > 0 {
			return fmt.Errorf("the change would lose data in %d resource(s); pass -allow-data-loss to accept", len(findings))
		}
		return nil
	case "destroy":
		failures := stack.WatchFailures()
		_, err := s.Destroy(ctx, optdestroy.ProgressStreams(os.Stdout), optdestroy.ErrorProgressStreams(os.Stderr),
			optdestroy.EventStreams(failures.Events()))
		return explained(err, failures)
	case "outputs":
		return printOutputs(ctx, s)
	default:
		return fmt.Errorf("unknown command %q: want up, preview, destroy or outputs", verb)
	}
}

// explained is err followed by what the run failed on and what each of those waited for.
func explained(err error, f *stack.Failures) error {
	if err == nil {
		return nil
	}
	if why := stack.Explain(f.List()); why != "" {
		return fmt.Errorf("%w\n%s", err, why)
	}
	return err
}

// printOutputs prints the stack's outputs, secrets masked.
func printOutputs(ctx context.Context, s auto.Stack) error {
	outs, err := s.Outputs(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(outs))
	for k := range outs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("\nOutputs of stack %s:\n", s.Name())
	for _, k := range keys {
		v := outs[k].Value
		if outs[k].Secret {
			v = "[secret]"
		}
		fmt.Printf("  %-22s %v\n", k, v)
	}
	return nil
}
