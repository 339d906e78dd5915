package rules

import (
	"flag"
	"os"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/policies.md from the rules")

func TestRulesAreComplete(t *testing.T) {
	ids, names := map[string]bool{}, map[string]bool{}
	id := regexp.MustCompile(`^PH-[A-Z0-9]{2}-\d{3}$`)
	for _, r := range All() {
		if !id.MatchString(r.ID) || ids[r.ID] || names[r.Name] {
			t.Errorf("%s %s: ids must be unique and of the form PH-XX-000, names unique", r.ID, r.Name)
		}
		ids[r.ID], names[r.Name] = true, true
		if r.Why == "" || r.Fix == "" || r.Severity == "" || len(r.Types) == 0 {
			t.Errorf("%s: needs why, fix, severity and types", r.ID)
		}
		if (r.Check == nil) == (r.CheckStack == nil) {
			t.Errorf("%s: set exactly one of Check and CheckStack", r.ID)
		}
		if len(r.Pass) == 0 || len(r.Fail) == 0 {
			t.Errorf("%s: needs passing and failing fixtures", r.ID)
		}
	}
}

func TestFixtures(t *testing.T) {
	for _, r := range All() {
		for _, f := range r.Pass {
			t.Run(r.ID+"/pass/"+f.Name, func(t *testing.T) {
				if v := r.Run(f.Context, f.Resources); len(v) > 0 {
					t.Errorf("passing fixture violates: %v", v)
				}
			})
		}
		for _, f := range r.Fail {
			t.Run(r.ID+"/fail/"+f.Name, func(t *testing.T) {
				if v := r.Run(f.Context, f.Resources); len(v) == 0 {
					t.Error("failing fixture passes")
				}
			})
		}
	}
}

func TestPackBuilds(t *testing.T) {
	p, err := Pack(Context{Environment: "prod", Cloud: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Policies()) != len(All()) {
		t.Errorf("pack has %d policies, want %d", len(p.Policies()), len(All()))
	}
}

func TestDocsAreGenerated(t *testing.T) {
	const path = "../../docs/policies.md"
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Errorf("docs/policies.md is not generated from the rules: run `make docs` (%v)", err)
	}
}
