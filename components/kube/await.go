package kube

import (
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Await is what the Kubernetes provider waits for before it counts an object of a kind created
// or updated, and how long this project lets it wait. The provider's default is ten minutes for
// every kind (pulumi-kubernetes provider/pkg/await, Default*TimeoutMins): too long for a Service
// whose pods will not come, too short for a PostHog service whose first start may take its whole
// startup-probe window.
type Await struct {
	WaitsFor string
	Timeout  time.Duration
}

// Awaits are the waits by kind. A workload's timeout grows to its longest startup-probe window
// plus Scheduling (see timeoutFor); kinds not listed are not awaited beyond their creation.
var Awaits = map[string]Await{
	"Deployment": {"every replica of the new revision updated and available (pods ready)", 10 * time.Minute},
	"StatefulSet": {"every replica ready at the current revision (pods scheduled, volumes bound, probes passing)",
		15 * time.Minute},
	// A Deployment's Service is created once its Deployment is available, so its endpoints are
	// there at once; a StatefulSet's headless Service publishes pods before they are ready, so it
	// waits only for them to be scheduled, within its set's timeout.
	"Service": {"endpoints: pods that match its selector", 5 * time.Minute},
	"Job":     {"the Job's pod to succeed", 20 * time.Minute},
}

// Scheduling is what a pod may need before its probes start: a node from the autoscaler, the
// image pulled, its volume attached.
const Scheduling = 5 * time.Minute

// timeoutFor is how long to wait for an object of kind whose pods run cs: the kind's await, or
// the longest startup window of cs plus Scheduling, whichever is longer. The await never gives
// up on a pod that its own startup probe still allows to come.
func timeoutFor(kind string, cs ...Container) time.Duration {
	t := Awaits[kind].Timeout
	for _, c := range cs {
		if w := startupWindow(c.Startup) + Scheduling; w > t {
			t = w
		}
	}
	return t
}

// awaitFor is the resource option that sets timeoutFor on create and update.
func awaitFor(kind string, cs ...Container) pulumi.ResourceOption {
	t := timeoutFor(kind, cs...).String()
	return pulumi.Timeouts(&pulumi.CustomTimeouts{Create: t, Update: t})
}

// startupWindow is how long a startup probe lets a container take to start: its period times
// its failure threshold (Kubernetes' defaults 10 s and 3 where unset).
func startupWindow(p *corev1.ProbeArgs) time.Duration {
	if p == nil {
		return 0
	}
	period, threshold := 10, 3
	if v, ok := p.PeriodSeconds.(pulumi.Int); ok {
		period = int(v)
	}
	if v, ok := p.FailureThreshold.(pulumi.Int); ok {
		threshold = int(v)
	}
	if v, ok := p.InitialDelaySeconds.(pulumi.Int); ok {
		return time.Duration(int(v)+period*threshold) * time.Second
	}
	return time.Duration(period*threshold) * time.Second
}
