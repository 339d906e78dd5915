package platform_test

import (
	"flag"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/platform"
	"github.com/posthog-deploy/posthog-deploy/platform/capture"
)

var updateURNs = flag.Bool("update-urns", false, "rewrite testdata/data-urns.golden from the shipped stacks")

const goldenURNs = "testdata/data-urns.golden"

// TestDataResourcesKeepTheirURNs holds the URN of every data-holding resource of every shipped
// stack (databases, buckets, keys, volumes, stateful sets, namespaces) to the golden list: a
// resource whose URN changes is, to the engine, a new resource, and the old one is deleted (or
// the update stops on protect). A move or rename must keep the old URN as an alias.
// `go test ./platform -run TestDataResourcesKeepTheirURNs -update-urns` rewrites the list, for a
// change that means to lose data: say so in its commit.
func TestDataResourcesKeepTheirURNs(t *testing.T) {
	var current []string
	claimed := map[string]bool{}
	golden := map[string]bool{}
	if b, err := os.ReadFile(goldenURNs); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				golden[l] = true
			}
		}
	} else if !*updateURNs {
		t.Fatal(err)
	}
	data := config.DataTypes()
	for _, s := range allStacks(t) {
		ids := capture.Identities(s.name, s.rs)
		for _, r := range s.rs {
			if !slices.Contains(data, r.Type) {
				continue
			}
			current = append(current, r.URN)
			found := false
			for _, id := range ids[r.URN] {
				if golden[id] {
					found, claimed[id] = true, true
				}
			}
			if !found && !*updateURNs {
				t.Errorf("%s: a new URN, and no alias to the one it had: the engine would replace it (or stop on protect)\n  %s",
					s.name, r.URN)
			}
		}
	}
	if *updateURNs {
		slices.Sort(current)
		out := "# The URNs of every data-holding resource of every shipped stack (TestDataResourcesKeepTheirURNs).\n" +
			strings.Join(current, "\n") + "\n"
		if err := os.WriteFile(goldenURNs, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for urn := range golden {
		if !claimed[urn] {
			t.Errorf("no resource answers to %s any more: the change deletes it", urn)
		}
	}
}

// TestEveryResourceSitsUnderAComponent: at the stack's root are the foundation and the data
// plane's components only; every resource a cloud or a service creates is a child of one, so
// `pulumi stack` reads like the architecture and a move is a change of parent, aliased.
func TestEveryResourceSitsUnderAComponent(t *testing.T) {
	for _, s := range allStacks(t) {
		var roots []string
		for _, r := range s.rs {
			if r.Type == "pulumi:pulumi:Stack" || r.Parent != "" {
				continue
			}
			if r.Custom {
				t.Errorf("%s: %s is at the stack's root, under no component", s.name, r.URN)
			}
			roots = append(roots, r.Type)
		}
		slices.Sort(roots)
		want := []string{"posthog-deploy:" + s.cloud + ":Foundation", "posthog-deploy:app:PostHog",
			"posthog-deploy:data:ClickHouse", "posthog-deploy:data:Kafka", "posthog-deploy:data:PgBouncer",
			"posthog-deploy:data:Redis", "posthog-deploy:data:ZooKeeper", "posthog-deploy:kube:NetworkPolicies"}
		if s.cloud != "local" {
			want = append(want, "posthog-deploy:edge:Edge")
		}
		if s.cfg.Monitoring.Enabled {
			want = append(want, "posthog-deploy:monitoring:Monitoring")
		}
		slices.Sort(want)
		if !slices.Equal(roots, want) {
			t.Errorf("%s: the stack's root holds %v, want %v", s.name, roots, want)
		}
	}
}

// TestEveryCloudHasAFoundation: the registry and the program's foundations name the same clouds.
func TestEveryCloudHasAFoundation(t *testing.T) {
	got := slices.Sorted(maps.Keys(platform.Foundations))
	want := slices.Sorted(slices.Values(config.Clouds()))
	if !slices.Equal(got, want) {
		t.Errorf("foundations for %v, the registry's clouds are %v", got, want)
	}
}
