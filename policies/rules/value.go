package rules

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// Kubernetes resource types the rules read.
const (
	ConfigMap   = "kubernetes:core/v1:ConfigMap"
	Secret      = "kubernetes:core/v1:Secret"
	StatefulSet = "kubernetes:apps/v1:StatefulSet"
	Deployment  = "kubernetes:apps/v1:Deployment"
	DaemonSet   = "kubernetes:apps/v1:DaemonSet"
	Job         = "kubernetes:batch/v1:Job"
	CronJob     = "kubernetes:batch/v1:CronJob"
	PDB         = "kubernetes:policy/v1:PodDisruptionBudget"
	Namespace   = "kubernetes:core/v1:Namespace"
	PVC         = "kubernetes:core/v1:PersistentVolumeClaim"
	// StorageClass provisions the stack's volumes.
	StorageClass = "kubernetes:storage.k8s.io/v1:StorageClass"
	// NetworkPolicy isolates pods.
	NetworkPolicy = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
)

// Workloads are the types with a pod template.
var Workloads = []string{StatefulSet, Deployment, DaemonSet, Job, CronJob}

// at walks a path of map keys; the result is null where the path does not exist and computed
// where a value on it is not known yet. Secrets are looked through: rules read their values.
func at(v property.Value, path ...string) property.Value {
	for _, p := range path {
		if v.IsComputed() {
			return v
		}
		if !v.IsMap() {
			return property.Value{}
		}
		v = v.AsMap().Get(p)
	}
	return v
}

func props(r Resource) property.Value { return property.New(r.Props) }

// str is a known string, with ok false where the value is unknown or not a string.
func str(v property.Value) (string, bool) {
	if v.IsString() {
		return v.AsString(), true
	}
	return "", false
}

func num(v property.Value) (float64, bool) {
	if v.IsNumber() {
		return v.AsNumber(), true
	}
	return 0, false
}

// strings returns the known string values of a map (data of a ConfigMap or Secret), and
// whether any value is not known yet.
func stringValues(v property.Value) (map[string]string, bool) {
	out := map[string]string{}
	unknown := v.IsComputed()
	if v.IsMap() {
		for k, e := range v.AsMap().All {
			if s, ok := str(e); ok {
				out[k] = s
			} else if e.IsComputed() {
				unknown = true
			}
		}
	}
	return out, unknown
}

// configTexts are every configuration text a resource carries: ConfigMap and Secret data, and
// each container's env values, command and args (where a setting can also be passed).
func configTexts(r Resource) map[string]string {
	out := map[string]string{}
	p := props(r)
	switch r.Type {
	case ConfigMap:
		m, _ := stringValues(at(p, "data"))
		for k, v := range m {
			out["data."+k] = v
		}
	case Secret:
		for _, field := range []string{"stringData", "data"} {
			m, _ := stringValues(at(p, field))
			for k, v := range m {
				out[field+"."+k] = v
			}
		}
	default:
		for i, c := range containers(r) {
			prefix := "container " + containerName(c, i)
			for _, field := range []string{"command", "args"} {
				if a := at(c, field); a.IsArray() {
					var parts []string
					for _, e := range a.AsArray().All {
						if s, ok := str(e); ok {
							parts = append(parts, s)
						}
					}
					out[prefix+" "+field] = strings.Join(parts, " ")
				}
			}
			if env := at(c, "env"); env.IsArray() {
				for _, e := range env.AsArray().All {
					name, _ := str(at(e, "name"))
					value, _ := str(at(e, "value"))
					out[prefix+" env "+name] = name + "=" + value
				}
			}
		}
	}
	return out
}

// podSpec is the pod template's spec of a workload.
func podSpec(r Resource) property.Value {
	p := props(r)
	if r.Type == CronJob {
		return at(p, "spec", "jobTemplate", "spec", "template", "spec")
	}
	return at(p, "spec", "template", "spec")
}

// containers lists a workload's containers and init containers.
func containers(r Resource) []property.Value {
	spec := podSpec(r)
	var out []property.Value
	for _, field := range []string{"initContainers", "containers"} {
		if a := at(spec, field); a.IsArray() {
			out = append(out, a.AsArray().AsSlice()...)
		}
	}
	return out
}

func containerName(c property.Value, i int) string {
	if n, ok := str(at(c, "name")); ok {
		return n
	}
	return "#" + string(rune('0'+i))
}

// labelMap is a known string map (metadata labels, selectors).
func labelMap(v property.Value) map[string]string {
	m, _ := stringValues(v)
	return m
}

// podLabels are the labels of a workload's pods.
func podLabels(r Resource) map[string]string {
	return labelMap(at(podSpecParent(r), "metadata", "labels"))
}

// podSpecParent is the pod template of a workload (its metadata and spec).
func podSpecParent(r Resource) property.Value {
	p := props(r)
	if r.Type == CronJob {
		return at(p, "spec", "jobTemplate", "spec", "template")
	}
	return at(p, "spec", "template")
}

// selects says whether every selector label is among the labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// configFile is a known file of a ConfigMap's data.
func configFile(r Resource, file string) (string, bool) {
	data, _ := stringValues(at(props(r), "data"))
	text, ok := data[file]
	return text, ok
}
