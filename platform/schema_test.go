package platform_test

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

var schemaSource = flag.String("schemas-from", "", "a folder with the providers' full schemas "+
	"(<name>-<version>-schema.json.gz): rewrite the trimmed copies in testdata/schemas from it")

// schema is the part of a Pulumi package schema the check reads.
type schema struct {
	Name      string                    `json:"name"`
	Version   string                    `json:"version"`
	Source    string                    `json:"source,omitempty"`
	Resources map[string]resourceSchema `json:"resources"`
	Types     map[string]typeSchema     `json:"types"`
}

type resourceSchema struct {
	InputProperties map[string]propertySchema `json:"inputProperties"`
	RequiredInputs  []string                  `json:"requiredInputs,omitempty"`
}

type typeSchema struct {
	Type       string                    `json:"type"`
	Properties map[string]propertySchema `json:"properties,omitempty"`
	Required   []string                  `json:"required,omitempty"`
	Enum       []enumValue               `json:"enum,omitempty"`
}

type enumValue struct {
	Value any `json:"value"`
}

type propertySchema struct {
	Type                 string          `json:"type,omitempty"`
	Ref                  string          `json:"$ref,omitempty"`
	Items                *propertySchema `json:"items,omitempty"`
	AdditionalProperties *propertySchema `json:"additionalProperties,omitempty"`
}

// providers are the providers whose real schema the tests hold, with the SDK module go.mod
// pins for each: the schema must be the SDK's version.
var providers = map[string]string{
	"digitalocean": "github.com/pulumi/pulumi-digitalocean/sdk/v4",
	"gcp":          "github.com/pulumi/pulumi-gcp/sdk/v7",
}

func goModVersion(t *testing.T, module string) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(module) + ` v(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("go.mod does not require %s", module)
	}
	return string(m[1])
}

func loadSchema(t *testing.T, name string) schema {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "schemas", name+"-*.json"))
	if len(files) != 1 {
		t.Fatalf("want one trimmed %s schema in testdata/schemas, found %v", name, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Every resource every cloud stack sends to DigitalOcean or Google Cloud is checked against the
// provider's own schema at the version go.mod pins: no property the provider does not know, every
// required input present, every value of its declared type (strings, numbers, booleans, lists,
// maps, nested objects), and enum values where the schema has enums.
func TestEveryResourceMatchesItsProvidersSchema(t *testing.T) {
	if *schemaSource != "" {
		trimSchemas(t, *schemaSource)
	}
	checked := map[string]int{}
	for name, module := range providers {
		s := loadSchema(t, name)
		if want := goModVersion(t, module); s.Version != want {
			t.Errorf("the %s schema is v%s, go.mod pins its SDK at v%s: bring the schema to the SDK's version", name, s.Version, want)
		}
		for _, st := range cloudStacks(t) {
			for _, r := range st.rs {
				if !r.Custom || !strings.HasPrefix(r.Type, name+":") {
					continue
				}
				rs, ok := s.Resources[r.Type]
				if !ok {
					t.Errorf("%s: %s is not a resource of %s v%s", st.name, r.Type, name, s.Version)
					continue
				}
				for _, problem := range s.checkObject(r.Inputs, rs.InputProperties, rs.RequiredInputs) {
					t.Errorf("%s: %s %s: %s", st.name, r.Type, r.Name, problem)
				}
				checked[name]++
			}
		}
	}
	for name := range providers {
		if checked[name] < 20 {
			t.Errorf("only %d %s resources checked: the stacks or the test changed", checked[name], name)
		}
	}
}

// checkObject lists what in inputs the properties do not allow.
func (s schema) checkObject(inputs resource.PropertyMap, props map[string]propertySchema, required []string) []string {
	var out []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range inputs {
			if !yield(string(k)) {
				return
			}
		}
	}) {
		if strings.HasPrefix(k, "__") {
			continue // the engine's own (__defaults)
		}
		p, ok := props[k]
		if !ok {
			out = append(out, fmt.Sprintf("unknown property %q", k))
			continue
		}
		for _, problem := range s.checkValue(inputs[resource.PropertyKey(k)], p) {
			out = append(out, k+problem)
		}
	}
	for _, k := range required {
		if v, ok := inputs[resource.PropertyKey(k)]; !ok || v.IsNull() {
			out = append(out, fmt.Sprintf("required input %q missing", k))
		}
	}
	return out
}

// checkValue lists how v breaks p ("" path prefixes name where in v).
func (s schema) checkValue(v resource.PropertyValue, p propertySchema) []string {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsNull() || v.IsComputed() || v.IsOutput() || v.IsResourceReference() {
		return nil // unknown under mocks, or another resource's: not this value's to judge
	}
	if p.Ref != "" {
		if strings.HasPrefix(p.Ref, "pulumi.json#/") {
			return nil // Any, Json, Archive, Asset
		}
		t, ok := s.Types[strings.TrimPrefix(p.Ref, "#/types/")]
		if !ok {
			return []string{": type " + p.Ref + " is not in the schema"}
		}
		if len(t.Enum) > 0 {
			for _, e := range t.Enum {
				if fmt.Sprint(e.Value) == fmt.Sprint(v.V) {
					return nil
				}
			}
			return []string{fmt.Sprintf(": %v is not one of the values of %s", v.V, p.Ref)}
		}
		if !v.IsObject() {
			return []string{fmt.Sprintf(": want an object (%s), got %v", p.Ref, v.TypeString())}
		}
		var out []string
		for _, problem := range s.checkObject(v.ObjectValue(), t.Properties, t.Required) {
			out = append(out, "."+problem)
		}
		return out
	}
	ok := true
	switch p.Type {
	case "string":
		ok = v.IsString()
	case "integer":
		ok = v.IsNumber() && v.NumberValue() == float64(int64(v.NumberValue()))
	case "number":
		ok = v.IsNumber()
	case "boolean":
		ok = v.IsBool()
	case "array":
		if !v.IsArray() {
			return []string{fmt.Sprintf(": want a list, got %v", v.TypeString())}
		}
		var out []string
		for i, e := range v.ArrayValue() {
			if p.Items != nil {
				for _, problem := range s.checkValue(e, *p.Items) {
					out = append(out, fmt.Sprintf("[%d]%s", i, problem))
				}
			}
		}
		return out
	case "object":
		if !v.IsObject() {
			return []string{fmt.Sprintf(": want a map, got %v", v.TypeString())}
		}
		var out []string
		if p.AdditionalProperties != nil {
			for k, e := range v.ObjectValue() {
				for _, problem := range s.checkValue(e, *p.AdditionalProperties) {
					out = append(out, fmt.Sprintf("[%q]%s", k, problem))
				}
			}
		}
		return out
	}
	if !ok {
		return []string{fmt.Sprintf(": want a %s, got %v %v", p.Type, v.TypeString(), v.V)}
	}
	return nil
}

// The checker itself: each kind of mistake it must catch.
func TestSchemaCheckCatchesWhatTheCloudRefuses(t *testing.T) {
	s := schema{
		Resources: map[string]resourceSchema{},
		Types: map[string]typeSchema{
			"p:i/T:T":  {Type: "object", Properties: map[string]propertySchema{"size": {Type: "integer"}}, Required: []string{"size"}},
			"p:i/E:E":  {Type: "string", Enum: []enumValue{{"a"}, {"b"}}},
			"p:i/E2:E": {Type: "string"},
		},
	}
	props := map[string]propertySchema{
		"name": {Type: "string"}, "count": {Type: "integer"}, "on": {Type: "boolean"},
		"tags":   {Type: "object", AdditionalProperties: &propertySchema{Type: "string"}},
		"ranges": {Type: "array", Items: &propertySchema{Type: "string"}},
		"nested": {Ref: "#/types/p:i/T:T"}, "mode": {Ref: "#/types/p:i/E:E"},
	}
	good := resource.NewPropertyMapFromMap(map[string]any{"name": "x", "count": 3, "on": true, "tags": map[string]any{"a": "b"},
		"ranges": []any{"10.0.0.0/16"}, "nested": map[string]any{"size": 30}, "mode": "a"})
	if problems := s.checkObject(good, props, []string{"name"}); len(problems) > 0 {
		t.Errorf("a valid resource was refused: %v", problems)
	}
	bad := resource.NewPropertyMapFromMap(map[string]any{"nmae": "x", "count": 2.5, "on": "yes", "tags": map[string]any{"a": 1},
		"ranges": []any{7}, "nested": map[string]any{"sise": 30}, "mode": "c"})
	got := strings.Join(s.checkObject(bad, props, []string{"name"}), "\n")
	for _, want := range []string{`unknown property "nmae"`, "count: want a integer", "on: want a boolean", `tags["a"]: want a string`,
		"ranges[0]: want a string", `nested.unknown property "sise"`, `nested.required input "size" missing`,
		"mode: c is not one of the values", `required input "name" missing`} {
		if !strings.Contains(got, want) {
			t.Errorf("the check missed %q:\n%s", want, got)
		}
	}
}

// trimSchemas writes testdata/schemas/<name>-<version>.json: the resources the stacks use and
// the types they reach, from the providers' full schemas, with the full file's checksum.
func trimSchemas(t *testing.T, from string) {
	used := map[string]map[string]bool{}
	for _, st := range cloudStacks(t) {
		for _, r := range st.rs {
			p := r.Type[:strings.Index(r.Type, ":")]
			if _, ok := providers[p]; ok && r.Custom {
				if used[p] == nil {
					used[p] = map[string]bool{}
				}
				used[p][r.Type] = true
			}
		}
	}
	for name, module := range providers {
		version := goModVersion(t, module)
		file := filepath.Join(from, fmt.Sprintf("%s-%s-schema.json.gz", name, version))
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(z)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var full struct {
			Resources map[string]json.RawMessage `json:"resources"`
			Types     map[string]json.RawMessage `json:"types"`
		}
		if err := json.Unmarshal(raw, &full); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		out := schema{Name: name, Version: version, Resources: map[string]resourceSchema{}, Types: map[string]typeSchema{},
			Source: fmt.Sprintf("trimmed from %s (sha256 of the uncompressed schema %s); see testdata/schemas/SOURCES.md",
				filepath.Base(file), hex.EncodeToString(sum[:]))}
		var reach func(p propertySchema)
		reach = func(p propertySchema) {
			if p.Items != nil {
				reach(*p.Items)
			}
			if p.AdditionalProperties != nil {
				reach(*p.AdditionalProperties)
			}
			tok, ok := strings.CutPrefix(p.Ref, "#/types/")
			if !ok {
				return
			}
			if _, seen := out.Types[tok]; seen {
				return
			}
			var ts typeSchema
			if err := json.Unmarshal(full.Types[tok], &ts); err != nil {
				t.Fatalf("%s: %v", tok, err)
			}
			out.Types[tok] = ts
			for _, q := range ts.Properties {
				reach(q)
			}
		}
		for tok := range used[name] {
			var rs resourceSchema
			if err := json.Unmarshal(full.Resources[tok], &rs); err != nil {
				t.Fatalf("%s: %v", tok, err)
			}
			out.Resources[tok] = rs
			for _, p := range rs.InputProperties {
				reach(p)
			}
		}
		b, err := json.MarshalIndent(out, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join("testdata", "schemas", name+"-*.json"))
		for _, o := range old {
			_ = os.Remove(o)
		}
		if err := os.MkdirAll(filepath.Join("testdata", "schemas"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "schemas", fmt.Sprintf("%s-%s.json", name, version)), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
