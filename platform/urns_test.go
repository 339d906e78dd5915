package platform_test

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config"
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
