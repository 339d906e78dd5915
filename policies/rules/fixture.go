package rules

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// unknown marks a value a fixture leaves not known yet, as in a preview.
var unknown = struct{ unknown bool }{true}

// res builds a fixture resource from plain Go values (maps, slices, strings, numbers, bools,
// nil and unknown).
func res(typ, name string, props map[string]any) Resource {
	return Resource{Type: typ, Name: name, URN: "urn:pulumi:test::posthog-deploy::" + typ + "::" + name,
		Props: val(props).AsMap()}
}

func val(v any) property.Value {
	switch v := v.(type) {
	case nil:
		return property.Value{}
	case bool:
		return property.New(v)
	case int:
		return property.New(float64(v))
	case float64:
		return property.New(v)
	case string:
		return property.New(v)
	case []any:
		vs := make([]property.Value, len(v))
		for i, e := range v {
			vs[i] = val(e)
		}
		return property.New(vs)
	case []string:
		vs := make([]property.Value, len(v))
		for i, e := range v {
			vs[i] = property.New(e)
		}
		return property.New(vs)
	case map[string]any:
		m := map[string]property.Value{}
		for k, e := range v {
			m[k] = val(e)
		}
		return property.New(m)
	case map[string]string:
		m := map[string]property.Value{}
		for k, e := range v {
			m[k] = property.New(e)
		}
		return property.New(m)
	}
	if v == unknown {
		return property.New(property.Computed)
	}
	panic(fmt.Sprintf("fixture value of type %T", v))
}

// configMap is a ConfigMap fixture holding one file.
func configMap(name, file, content string) Resource {
	return res(ConfigMap, name, map[string]any{"metadata": map[string]any{"name": name}, "data": map[string]any{file: content}})
}

// workload is a workload fixture with one container and pod labels.
func workload(typ, name string, replicas int, podLabels map[string]string, container map[string]any, spec map[string]any) Resource {
	podSpec := map[string]any{"containers": []any{container}}
	for k, v := range spec {
		podSpec[k] = v
	}
	return res(typ, name, map[string]any{
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas": replicas,
			"template": map[string]any{"metadata": map[string]any{"labels": podLabels}, "spec": podSpec},
		},
	})
}

func container(image string, extra map[string]any) map[string]any {
	c := map[string]any{"name": "main", "image": image,
		"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}}}
	for k, v := range extra {
		c[k] = v
	}
	return c
}
