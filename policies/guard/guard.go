// Package guard is the data-loss guard for changes: given the steps of a preview, it reports
// every database, bucket, volume claim or data StatefulSet that the change would replace or
// delete, unless that resource is explicitly allowed. CI runs it on every pull request.
package guard

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/posthog-deploy/posthog-deploy/config"
)

// DataTypes are the resource types whose replacement or deletion loses stored data.
var DataTypes = config.DataTypes()

// destructive are the step operations that delete a resource's current instance.
var destructive = []string{"delete", "replace", "create-replacement", "delete-replaced"}

// Step is one step of a preview.
type Step struct {
	Op   string
	URN  string
	Type string
}

// Finding is a data resource the change would lose.
type Finding struct {
	Step
}

func (f Finding) String() string {
	return fmt.Sprintf("%s would be %s: %s", f.Type, verb(f.Op), f.URN)
}

func verb(op string) string {
	if op == "delete" {
		return "deleted"
	}
	return "replaced (its data deleted)"
}

// Check returns the steps that would lose data. allow holds URN patterns (path.Match syntax,
// or a resource's name) that a reviewer has accepted losing.
func Check(steps []Step, allow []string) []Finding {
	var out []Finding
	seen := map[string]bool{}
	for _, s := range steps {
		if !slices.Contains(destructive, s.Op) || !slices.Contains(DataTypes, s.Type) || seen[s.URN] || allowed(s.URN, allow) {
			continue
		}
		seen[s.URN] = true
		out = append(out, Finding{s})
	}
	return out
}

func allowed(urn string, allow []string) bool {
	name := urn[strings.LastIndex(urn, "::")+2:]
	for _, a := range allow {
		if ok, _ := path.Match(a, urn); ok || a == name {
			return true
		}
	}
	return false
}

// FromPreviewJSON reads the steps of `pulumi preview --json`.
func FromPreviewJSON(r io.Reader) ([]Step, error) {
	var doc struct {
		Steps []struct {
			Op       string `json:"op"`
			URN      string `json:"urn"`
			OldState *struct {
				Type string `json:"type"`
			} `json:"oldState"`
			NewState *struct {
				Type string `json:"type"`
			} `json:"newState"`
		} `json:"steps"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading the preview's JSON: %w", err)
	}
	var steps []Step
	for _, s := range doc.Steps {
		st := Step{Op: s.Op, URN: s.URN}
		switch {
		case s.OldState != nil:
			st.Type = s.OldState.Type
		case s.NewState != nil:
			st.Type = s.NewState.Type
		default:
			st.Type = typeOf(s.URN)
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// typeOf is the resource type in a URN (urn:pulumi:stack::project::parent$type::name).
func typeOf(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return ""
	}
	t := parts[len(parts)-2]
	return t[strings.LastIndex(t, "$")+1:]
}
