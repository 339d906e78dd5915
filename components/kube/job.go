package kube

import (
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Job is a run-to-completion task. Its name should carry a hash of what it runs: a Job is
// immutable, so a change is a new Job, and an unchanged one is not run again.
type Job struct {
	Container Container
	// Init runs to completion before the container starts (e.g. fetching a CA bundle).
	Init     []Container
	Selector pulumi.StringMap
	// Volumes are the pod's volumes, which the containers' Mounts put in place.
	Volumes []Volume
	// ServiceAccount the pod runs as (the cloud identity it acts with); "" is the default.
	ServiceAccount string
}

// podSpec is the pod of one run of the Job.
func (j Job) podSpec(name string) corev1.PodSpecArgs {
	return corev1.PodSpecArgs{
		RestartPolicy:      pulumi.String("OnFailure"),
		InitContainers:     initContainers(j.Init),
		Containers:         corev1.ContainerArray{j.Container.args(name)},
		Volumes:            volumes(j.Volumes),
		SecurityContext:    podSecurity(j.Container.Image),
		ServiceAccountName: optional(j.ServiceAccount),
	}
}

// NewJob creates the Job, retried a few times and kept for a day for its logs.
func NewJob(ctx *pulumi.Context, name string, j Job, p Placement, opts ...pulumi.ResourceOption) (*batchv1.Job, error) {
	return batchv1.NewJob(ctx, name, &batchv1.JobArgs{
		Metadata: meta(name, p.Namespace, j.Selector),
		Spec: batchv1.JobSpecArgs{
			BackoffLimit:            pulumi.Int(6),
			TtlSecondsAfterFinished: pulumi.Int(86400),
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: p.podLabels(j.Selector, j.ServiceAccount)},
				Spec:     j.podSpec(name),
			},
		},
	}, append([]pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true), awaitFor("Job", j.Container)}, opts...)...)
}

// NewCronJob runs a Job on a cron schedule (UTC), one at a time, keeping the last runs' pods
// for their logs.
func NewCronJob(ctx *pulumi.Context, name, schedule string, j Job, p Placement, opts ...pulumi.ResourceOption) (*batchv1.CronJob, error) {
	return batchv1.NewCronJob(ctx, name, &batchv1.CronJobArgs{
		Metadata: meta(name, p.Namespace, j.Selector),
		Spec: batchv1.CronJobSpecArgs{
			Schedule:                   pulumi.String(schedule),
			TimeZone:                   pulumi.String("Etc/UTC"),
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			JobTemplate: batchv1.JobTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: p.podLabels(j.Selector, j.ServiceAccount)},
				Spec: batchv1.JobSpecArgs{
					BackoffLimit: pulumi.Int(2),
					Template: corev1.PodTemplateSpecArgs{
						Metadata: metav1.ObjectMetaArgs{Labels: p.podLabels(j.Selector, j.ServiceAccount)},
						Spec:     j.podSpec(name),
					},
				},
			},
		},
	}, opts...)
}
