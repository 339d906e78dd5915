package kube

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Stateful is a set of replicas with stable names (<name>-0, <name>-1, …), each with its own
// persistent volume, reachable through a headless Service of the same name.
type Stateful struct {
	Name      string
	Replicas  int
	Container Container
	// Sidecars run beside the container; those that share its data (a backup agent) see the
	// same data volume, the others (an exporter) do not.
	Sidecars []Container
	// Selector is the labels that select this set's pods (see Labels).
	Selector pulumi.StringMap
	// SpreadGroup selects the pods that must not share a zone (e.g. every replica of one
	// ClickHouse shard, which live in separate sets); defaults to Selector.
	SpreadGroup pulumi.StringMap
	// DataPath is where the volume named "data" is mounted; Storage is its size.
	DataPath string
	Storage  string
	// Volumes are the pod's other volumes, which the containers' Mounts put in place.
	Volumes []Volume
	// Budget is the pod disruption budget's maxUnavailable; 0 skips the budget (a set whose
	// group shares one budget, such as a ClickHouse shard).
	Budget int
	// PodAnnotations, such as a checksum of the config that restarts pods when it changes.
	PodAnnotations pulumi.StringMapInput
	// ServiceAccount the pods run as (the cloud identity they act with); "" is the default.
	ServiceAccount string
	// Pool is the dedicated node pool the pods run on (see PoolLabel); "" is any node.
	Pool string
}

// NewStateful creates the headless Service, the StatefulSet and (with a Budget) its
// PodDisruptionBudget. Volume claims are retained when the set is deleted or scaled down: the
// data outlives the workload.
func NewStateful(ctx *pulumi.Context, s Stateful, p Placement, opts ...pulumi.ResourceOption) (*appsv1.StatefulSet, error) {
	// The set's pods and its Service wait for the same thing, for as long.
	await := awaitFor("StatefulSet", append([]Container{s.Container}, s.Sidecars...)...)
	// Not a dependency of the set: peers find each other through it before they are ready, and
	// the provider waits for it to find the pods (scheduled; not-ready addresses are published).
	if _, err := corev1.NewService(ctx, s.Name, &corev1.ServiceArgs{
		Metadata: meta(s.Name, p.Namespace, s.Selector),
		Spec: corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  s.Selector,
			Ports:     servicePorts(s.Container.Ports),
			// Peers must find each other before they are ready (quorum, replication).
			PublishNotReadyAddresses: pulumi.Bool(true),
		},
	}, append([]pulumi.ResourceOption{await}, opts...)...); err != nil {
		return nil, err
	}

	c := s.Container
	c.Mounts = append([]Mount{{Volume: "data", Path: s.DataPath}}, c.Mounts...)
	group := s.SpreadGroup
	if group == nil {
		group = s.Selector
	}
	podLabels := pulumi.StringMap{}
	for k, v := range group {
		podLabels[k] = v
	}
	for k, v := range s.Selector {
		podLabels[k] = v
	}
	claimSpec := corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.ToStringArray([]string{"ReadWriteOnce"}),
		Resources:   corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(s.Storage)}},
	}
	if p.StorageClass != "" {
		claimSpec.StorageClassName = pulumi.String(p.StorageClass)
	}
	claim := corev1.PersistentVolumeClaimTypeArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: s.Selector},
		Spec:     claimSpec,
	}

	setOpts := append([]pulumi.ResourceOption{pulumi.Protect(p.Protect), await}, opts...)
	set, err := appsv1.NewStatefulSet(ctx, s.Name, &appsv1.StatefulSetArgs{
		Metadata: meta(s.Name, p.Namespace, s.Selector),
		Spec: appsv1.StatefulSetSpecArgs{
			ServiceName:         pulumi.String(s.Name),
			Replicas:            pulumi.Int(s.Replicas),
			PodManagementPolicy: pulumi.String("Parallel"),
			Selector:            metav1.LabelSelectorArgs{MatchLabels: s.Selector},
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategyArgs{Type: pulumi.String("RollingUpdate")},
			PersistentVolumeClaimRetentionPolicy: appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
				WhenDeleted: pulumi.String("Retain"),
				WhenScaled:  pulumi.String("Retain"),
			},
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: p.podLabels(podLabels, s.ServiceAccount), Annotations: s.PodAnnotations},
				Spec: corev1.PodSpecArgs{
					Containers:                    append(corev1.ContainerArray{c.args(s.Name)}, sidecars(s.Sidecars, s.DataPath)...),
					Volumes:                       volumes(s.Volumes),
					SecurityContext:               podSecurity(c.Image),
					TopologySpreadConstraints:     spread(group, p, true),
					TerminationGracePeriodSeconds: pulumi.Int(60),
					ServiceAccountName:            optional(s.ServiceAccount),
					NodeSelector:                  poolSelector(s.Pool),
					Tolerations:                   poolTolerations(s.Pool),
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{claim},
		},
	}, setOpts...)
	if err != nil {
		return nil, err
	}
	if s.Budget > 0 {
		if _, err := NewBudget(ctx, s.Name, p.Namespace, s.Selector, s.Budget, opts...); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// NewBudget limits voluntary disruptions (node drains, upgrades) of the pods of a selector.
func NewBudget(ctx *pulumi.Context, name string, ns pulumi.StringInput, selector pulumi.StringMap, maxUnavailable int,
	opts ...pulumi.ResourceOption) (*policyv1.PodDisruptionBudget, error) {
	return policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(name, ns, selector),
		Spec: policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(maxUnavailable),
			Selector:       metav1.LabelSelectorArgs{MatchLabels: selector},
		},
	}, opts...)
}

// sidecars are the pod's extra containers, those that share the data with a set's data volume
// at the same path (dataPath; none for a Deployment's).
func sidecars(cs []Container, dataPath string) corev1.ContainerArray {
	var out corev1.ContainerArray
	for _, c := range cs {
		if dataPath != "" && c.SharesData {
			c.Mounts = append([]Mount{{Volume: "data", Path: dataPath}}, c.Mounts...)
		}
		out = append(out, c.args(c.Name))
	}
	return out
}
