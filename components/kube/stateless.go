package kube

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Stateless is a Deployment scaled between Min and Max replicas by CPU, with a Service when it
// has ports and a disruption budget that keeps one replica serving during drains.
type Stateless struct {
	Name      string
	Min, Max  int
	Container Container
	// Sidecars run beside the container (an exporter of its metrics).
	Sidecars []Container
	// Init runs to completion before the container starts (e.g. waiting for migrations).
	Init     []Container
	Selector pulumi.StringMap
	// PodAnnotations, such as a checksum of the settings that restarts pods when they change.
	PodAnnotations pulumi.StringMapInput
	// ServiceAccount the pods run as (the cloud identity they act with); "" is the default.
	ServiceAccount string
	// Volumes are the pod's volumes, which the containers' Mounts put in place.
	Volumes []Volume
}

// NewStateless creates the Deployment, its Service (if it has ports), its HPA (if Max > Min)
// and its PodDisruptionBudget (if it runs more than one replica).
func NewStateless(ctx *pulumi.Context, s Stateless, p Placement, opts ...pulumi.ResourceOption) (*appsv1.Deployment, error) {
	// With an autoscaler the replica count is its to set: a count here would be reapplied by
	// every update, scaling a busy service down to its minimum mid-deploy.
	var replicas pulumi.IntPtrInput
	if s.Max == s.Min {
		replicas = pulumi.Int(s.Min)
	}
	dep, err := appsv1.NewDeployment(ctx, s.Name, &appsv1.DeploymentArgs{
		Metadata: meta(s.Name, p.Namespace, s.Selector),
		Spec: appsv1.DeploymentSpecArgs{
			Replicas: replicas,
			Selector: metav1.LabelSelectorArgs{MatchLabels: s.Selector},
			Strategy: appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.String("25%"),
				},
			},
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: p.podLabels(s.Selector, s.ServiceAccount), Annotations: s.PodAnnotations},
				Spec: corev1.PodSpecArgs{
					InitContainers:            initContainers(s.Init),
					Containers:                append(corev1.ContainerArray{s.Container.args(s.Name)}, sidecars(s.Sidecars, "")...),
					Volumes:                   volumes(s.Volumes),
					SecurityContext:           podSecurity(s.Container.Image),
					TopologySpreadConstraints: spread(s.Selector, p, false),
					ServiceAccountName:        optional(s.ServiceAccount),
				},
			},
		},
	}, append([]pulumi.ResourceOption{awaitFor("Deployment", append(append([]Container{s.Container}, s.Init...), s.Sidecars...)...)}, opts...)...)
	if err != nil {
		return nil, err
	}
	if len(s.Container.Ports) > 0 {
		if _, err := Service(ctx, s.Name, p.Namespace, s.Selector, s.Container.Ports, []pulumi.Resource{dep}, opts...); err != nil {
			return nil, err
		}
	}
	if s.Max > s.Min {
		if _, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, s.Name, &autoscalingv2.HorizontalPodAutoscalerArgs{
			Metadata: meta(s.Name, p.Namespace, s.Selector),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpecArgs{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReferenceArgs{
					ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("Deployment"), Name: pulumi.String(s.Name),
				},
				MinReplicas: pulumi.Int(s.Min),
				MaxReplicas: pulumi.Int(s.Max),
				Metrics: autoscalingv2.MetricSpecArray{autoscalingv2.MetricSpecArgs{
					Type: pulumi.String("Resource"),
					Resource: autoscalingv2.ResourceMetricSourceArgs{
						Name:   pulumi.String("cpu"),
						Target: autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(70)},
					},
				}},
			},
		}, opts...); err != nil {
			return nil, err
		}
	}
	if s.Max > 1 {
		if _, err := NewBudget(ctx, s.Name, p.Namespace, s.Selector, 1, opts...); err != nil {
			return nil, err
		}
	}
	return dep, nil
}

func initContainers(cs []Container) corev1.ContainerArray {
	var out corev1.ContainerArray
	for i, c := range cs {
		out = append(out, c.args(fmt.Sprintf("init-%d", i)))
	}
	return out
}
