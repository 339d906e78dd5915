// Package kube holds the two workload shapes every data service and PostHog service is built
// from: a stateful set of replicas with stable names and volumes, and a stateless deployment.
// Each carries the labels, probes, resources, disruption budget and zone spreading that a
// production workload needs, so the components only say what differs.
package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// ZoneKey and HostKey are the node labels that spreading uses.
const (
	ZoneKey = labels.Zone
	HostKey = labels.Host
)

// PoolLabel is the node label (and taint key) of a dedicated node pool: a cloud labels and
// taints its ClickHouse nodes posthog.com/pool=clickhouse, so only ClickHouse runs there.
const PoolLabel = labels.Pool

func poolSelector(pool string) pulumi.StringMapInput {
	if pool == "" {
		return nil
	}
	return pulumi.StringMap{PoolLabel: pulumi.String(pool)}
}

func poolTolerations(pool string) corev1.TolerationArrayInput {
	if pool == "" {
		return nil
	}
	return corev1.TolerationArray{corev1.TolerationArgs{
		Key: pulumi.String(PoolLabel), Operator: pulumi.String("Equal"), Value: pulumi.String(pool), Effect: pulumi.String("NoSchedule"),
	}}
}

func optional(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}

// Placement says where a workload's objects go and how its pods spread.
type Placement struct {
	// Namespace is the namespace's name as an output of the namespace, so that objects wait for
	// it; NamespaceName is the same name, for the DNS names of services.
	Namespace     pulumi.StringInput
	NamespaceName string
	// SpreadZones spreads pods over zones; without it they only spread over nodes.
	SpreadZones bool
	// SeparateNodes keeps the members of a quorum or a shard on different nodes, a hard rule
	// where the cloud's region has no zones to spread over.
	SeparateNodes bool
	// StorageClass for volume claims; empty means the cluster's default.
	StorageClass string
	// Protect guards stateful objects against deletion and replacement (staging and prod).
	Protect bool
	// IdentityLabels are what a pod that runs as a service account of its own must carry for the
	// cloud to give it that account's identity (Azure's workload identity webhook injects only
	// into pods labelled azure.workload.identity/use). Never part of a selector.
	IdentityLabels map[string]string
}

// podLabels are a pod's labels: its selector's, and the identity's when it runs as account.
func (p Placement) podLabels(selector pulumi.StringMap, account string) pulumi.StringMap {
	if account == "" || len(p.IdentityLabels) == 0 {
		return selector
	}
	out := pulumi.StringMap{}
	for k, v := range selector {
		out[k] = v
	}
	for k, v := range p.IdentityLabels {
		out[k] = pulumi.String(v)
	}
	return out
}

// Labels are the selector labels of one workload: app.kubernetes.io/name is the workload,
// part-of ties it to the platform.
func Labels(name string, extra map[string]string) pulumi.StringMap {
	l := pulumi.StringMap{
		labels.App:    pulumi.String(name),
		labels.PartOf: pulumi.String(labels.Platform),
	}
	for k, v := range extra {
		l[k] = pulumi.String(v)
	}
	return l
}

// Endpoint is how clients reach a service: its hosts, its port, and what must exist before
// they use it.
type Endpoint struct {
	Hosts []string
	Port  int
	Ready []pulumi.Resource
}

// Addresses are the endpoint's host:port pairs.
func (e Endpoint) Addresses() []string {
	out := make([]string, len(e.Hosts))
	for i, h := range e.Hosts {
		out[i] = fmt.Sprintf("%s:%d", h, e.Port)
	}
	return out
}

// ServiceHost is the cluster DNS name of a Service, or of one pod of a headless Service
// (pod.service), in a namespace.
func ServiceHost(name, namespace string) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", name, namespace)
}

// PodHosts are the stable DNS names of a StatefulSet's pods behind its headless Service of the
// same name: name-0.name.<namespace>.svc.cluster.local, and so on.
func PodHosts(name string, replicas int, namespace string) []string {
	hosts := make([]string, replicas)
	for i := range hosts {
		hosts[i] = ServiceHost(fmt.Sprintf("%s-%d.%s", name, i, name), namespace)
	}
	return hosts
}

// Port is a named container port, also exposed by the workload's Services.
type Port struct {
	Name string
	Port int
}

// Resources are a container's requests; limits equal them for memory, so a node never
// overcommits the memory of a data service.
type Resources struct {
	CPU    string
	Memory string
}

func (r Resources) args() corev1.ResourceRequirementsArgs {
	return corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String(r.CPU), "memory": pulumi.String(r.Memory)},
		Limits:   pulumi.StringMap{"memory": pulumi.String(r.Memory)},
	}
}

// Container is a container of a workload's pods.
type Container struct {
	// Name of a sidecar; the main container takes the workload's name.
	Name string
	// Image is the image and the user it runs as: the container runs as that uid and gid, never
	// as root, where the image has a numeric user (config.Release); otherwise as the image says.
	Image   config.Image
	Command []string
	// Args are passed to the image's own entrypoint (when Command is empty).
	Args      []string
	Env       corev1.EnvVarArray
	EnvFrom   corev1.EnvFromSourceArray
	Ports     []Port
	Resources Resources
	Readiness *corev1.ProbeArgs
	Liveness  *corev1.ProbeArgs
	// Startup holds the other probes off until it succeeds, for a slow first start.
	Startup *corev1.ProbeArgs
	// Mounts put the pod's volumes (config, data, scratch) into the container.
	Mounts []Mount
	// SharesData, for a StatefulSet's sidecar, mounts the set's data volume where the main
	// container has it (a backup agent reads what the server writes).
	SharesData bool
}

// MetricsPort names the container port a workload serves Prometheus metrics on, which its
// PodMonitor scrapes.
const MetricsPort = "metrics"

// Exporter is a sidecar that serves a service's metrics for Prometheus on port, configured by
// env (and args to its entrypoint).
func Exporter(image config.Image, port int, env map[string]pulumi.StringInput, args ...string) Container {
	var vars corev1.EnvVarArray
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vars = append(vars, corev1.EnvVarArgs{Name: pulumi.String(k), Value: env[k]})
	}
	return Container{Name: MetricsPort, Image: image, Env: vars, Args: args,
		Ports:     []Port{{Name: MetricsPort, Port: port}},
		Resources: Resources{CPU: "50m", Memory: "64Mi"},
		Readiness: TCPProbe(MetricsPort, 15)}
}

// Mount puts a volume at a path in the container; with File, only that key of a config volume,
// so that the rest of the directory the image ships stays in place.
type Mount struct {
	Volume string
	Path   string
	File   string
}

// Volume is a pod volume besides the data volume: the keys of ConfigMaps and Secrets merged into
// one directory, or an empty scratch directory (Scratch) that lives as long as the pod.
type Volume struct {
	Name       string
	ConfigMaps []string
	Secrets    []string
	Scratch    bool
}

func (v Volume) args() corev1.VolumeArgs {
	if v.Scratch {
		return corev1.VolumeArgs{Name: pulumi.String(v.Name), EmptyDir: corev1.EmptyDirVolumeSourceArgs{}}
	}
	var sources corev1.VolumeProjectionArray
	for _, cm := range v.ConfigMaps {
		sources = append(sources, corev1.VolumeProjectionArgs{ConfigMap: corev1.ConfigMapProjectionArgs{Name: pulumi.String(cm)}})
	}
	for _, sec := range v.Secrets {
		sources = append(sources, corev1.VolumeProjectionArgs{Secret: corev1.SecretProjectionArgs{Name: pulumi.String(sec)}})
	}
	return corev1.VolumeArgs{Name: pulumi.String(v.Name), Projected: corev1.ProjectedVolumeSourceArgs{Sources: sources}}
}

func volumes(vs []Volume) corev1.VolumeArray {
	var out corev1.VolumeArray
	for _, v := range vs {
		out = append(out, v.args())
	}
	return out
}

func (c Container) args(name string) corev1.ContainerArgs {
	var ports corev1.ContainerPortArray
	for _, p := range c.Ports {
		ports = append(ports, corev1.ContainerPortArgs{Name: pulumi.String(p.Name), ContainerPort: pulumi.Int(p.Port)})
	}
	var mounts corev1.VolumeMountArray
	for _, m := range c.Mounts {
		mount := corev1.VolumeMountArgs{Name: pulumi.String(m.Volume), MountPath: pulumi.String(m.Path)}
		if m.File != "" {
			mount.MountPath = pulumi.String(m.Path + "/" + m.File)
			mount.SubPath = pulumi.String(m.File)
		}
		mounts = append(mounts, mount)
	}
	security := corev1.SecurityContextArgs{AllowPrivilegeEscalation: pulumi.Bool(false)}
	if u := c.Image.User; u.UID > 0 {
		security.RunAsUser, security.RunAsGroup, security.RunAsNonRoot = pulumi.Int(int(u.UID)), pulumi.Int(int(u.GID)), pulumi.Bool(true)
	}
	var args pulumi.StringArrayInput
	if len(c.Args) > 0 {
		args = pulumi.ToStringArray(c.Args)
	}
	return corev1.ContainerArgs{
		Name:            pulumi.String(name),
		Image:           pulumi.String(c.Image.Ref),
		Command:         pulumi.ToStringArray(c.Command),
		Args:            args,
		Env:             c.Env,
		EnvFrom:         c.EnvFrom,
		Ports:           ports,
		Resources:       c.Resources.args(),
		ReadinessProbe:  c.Readiness,
		LivenessProbe:   c.Liveness,
		StartupProbe:    c.Startup,
		VolumeMounts:    mounts,
		SecurityContext: security,
	}
}

// podSecurity makes the pod's volumes writable for the main image's group: a fresh volume is
// owned by root, and these images run as their own user.
func podSecurity(main config.Image) corev1.PodSecurityContextPtrInput {
	if main.User.GID == 0 {
		return nil
	}
	return corev1.PodSecurityContextArgs{
		FsGroup:             pulumi.Int(int(main.User.GID)),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
	}
}

// spread keeps pods of one selector apart: across zones when the cluster has them (a hard rule
// for quorum members, so a zone loss takes at most one), and across nodes always.
func spread(selector pulumi.StringMap, p Placement, hard bool) corev1.TopologySpreadConstraintArray {
	when := "ScheduleAnyway"
	if hard {
		when = "DoNotSchedule"
	}
	byNode := "ScheduleAnyway"
	if hard && p.SeparateNodes {
		byNode = "DoNotSchedule"
	}
	c := corev1.TopologySpreadConstraintArray{
		corev1.TopologySpreadConstraintArgs{
			MaxSkew: pulumi.Int(1), TopologyKey: pulumi.String(HostKey),
			WhenUnsatisfiable: pulumi.String(byNode),
			LabelSelector:     metav1.LabelSelectorArgs{MatchLabels: selector},
		},
	}
	if p.SpreadZones {
		c = append(c, corev1.TopologySpreadConstraintArgs{
			MaxSkew: pulumi.Int(1), TopologyKey: pulumi.String(ZoneKey),
			WhenUnsatisfiable: pulumi.String(when),
			LabelSelector:     metav1.LabelSelectorArgs{MatchLabels: selector},
		})
	}
	return c
}

// TCPProbe checks that a port accepts connections.
func TCPProbe(port string, periodSeconds int) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		TcpSocket:        corev1.TCPSocketActionArgs{Port: pulumi.String(port)},
		PeriodSeconds:    pulumi.Int(periodSeconds),
		FailureThreshold: pulumi.Int(6),
	}
}

// HTTPProbe checks that a path answers 2xx or 3xx within 5 seconds (a readiness check may
// query a database, or connect to Kafka, on every call).
func HTTPProbe(path, port string, periodSeconds int) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String(port)},
		PeriodSeconds:    pulumi.Int(periodSeconds),
		TimeoutSeconds:   pulumi.Int(5),
		FailureThreshold: pulumi.Int(6),
	}
}

// Patient lets a probe fail for up to seconds before it counts: a startup probe's window.
func Patient(p *corev1.ProbeArgs, seconds int) *corev1.ProbeArgs {
	period := 10
	q := *p
	q.PeriodSeconds = pulumi.Int(period)
	q.FailureThreshold = pulumi.Int((seconds + period - 1) / period)
	return &q
}

// ExecProbe runs a command in the container.
func ExecProbe(periodSeconds int, command ...string) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		Exec:             corev1.ExecActionArgs{Command: pulumi.ToStringArray(command)},
		PeriodSeconds:    pulumi.Int(periodSeconds),
		TimeoutSeconds:   pulumi.Int(5),
		FailureThreshold: pulumi.Int(6),
	}
}

func meta(name string, ns pulumi.StringInput, labels pulumi.StringMap) metav1.ObjectMetaArgs {
	return metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: ns, Labels: labels}
}

func servicePorts(ports []Port) corev1.ServicePortArray {
	var sp corev1.ServicePortArray
	for _, p := range ports {
		sp = append(sp, corev1.ServicePortArgs{Name: pulumi.String(p.Name), Port: pulumi.Int(p.Port), TargetPort: pulumi.String(p.Name)})
	}
	return sp
}

// Service exposes pods of a selector on a stable ClusterIP name. It is created once the
// workloads that run those pods are ready, so the provider finds its endpoints at once; when a
// workload fails, the Service is not created and does not hold the run waiting for pods that
// will not come.
func Service(ctx *pulumi.Context, name string, ns pulumi.StringInput, selector pulumi.StringMap, ports []Port,
	serves []pulumi.Resource, opts ...pulumi.ResourceOption) (*corev1.Service, error) {
	opts = append([]pulumi.ResourceOption{pulumi.DependsOn(serves), awaitFor("Service")}, opts...)
	return corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: meta(name, ns, selector),
		Spec: corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: selector,
			Ports:    servicePorts(ports),
		},
	}, opts...)
}

// Hash is a short digest of rendered config, put on a pod template so that a config change
// rolls the pods.
func Hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// NewConfigMap holds plain settings or config files.
func NewConfigMap(ctx *pulumi.Context, name string, ns pulumi.StringInput, labels pulumi.StringMap, data pulumi.StringMapInput,
	opts ...pulumi.ResourceOption) (*corev1.ConfigMap, error) {
	return corev1.NewConfigMap(ctx, name, &corev1.ConfigMapArgs{Metadata: meta(name, ns, labels), Data: data}, opts...)
}

// NewSecret holds credentials; its values should be Pulumi secrets, and the SDK keeps the whole
// map secret when any value is.
func NewSecret(ctx *pulumi.Context, name string, ns pulumi.StringInput, labels pulumi.StringMap, data pulumi.StringMapInput,
	opts ...pulumi.ResourceOption) (*corev1.Secret, error) {
	return corev1.NewSecret(ctx, name, &corev1.SecretArgs{Metadata: meta(name, ns, labels), StringData: data}, opts...)
}
