package monitoring

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/monitoring.md's generated part")

// TestDocsAreGenerated: docs/monitoring.md lists every alert as the rule files define it
// (`make docs` rewrites the part between the markers).
func TestDocsAreGenerated(t *testing.T) {
	const path = "../../docs/monitoring.md"
	want, err := AlertsMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, AlertsBegin), strings.Index(doc, AlertsEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/monitoring.md has no generated alerts section (%q … %q)", AlertsBegin, AlertsEnd)
	}
	got := doc[i : j+len(AlertsEnd)+1]
	if *update && got != want {
		doc = doc[:i] + want + doc[j+len(AlertsEnd)+1:]
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		got = want
	}
	if got != want {
		t.Error("docs/monitoring.md's alerts are not generated from the rule files: run `make docs`")
	}
	for _, a := range alertNames(t) {
		if !strings.Contains(got, "#### "+a+"\n") {
			t.Errorf("docs/monitoring.md does not list %s", a)
		}
	}
}
