// Package redis deploys the Redis that PostHog uses as its cache and Celery task queue, with an
// append-only file on a persistent volume so that queued tasks survive a restart.
package redis

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Name is the StatefulSet and Service; Port the client port.
const (
	Name = "redis"
	Port = 6379
)

// Server is the deployed Redis.
type Server struct {
	pulumi.ResourceState
	// URL is PostHog's REDIS_URL.
	URL string
}

// New deploys Redis into namespace ns.
func New(ctx *pulumi.Context, r config.Redis, ns string, p kube.Placement, opts ...pulumi.ResourceOption) (*Server, error) {
	s := &Server{URL: fmt.Sprintf("redis://%s-0.%s.%s.svc.cluster.local:%d/", Name, Name, ns, Port)}
	if err := ctx.RegisterComponentResource("posthog-deploy:data:Redis", Name, s, opts...); err != nil {
		return nil, err
	}
	if _, err := kube.NewStateful(ctx, kube.Stateful{
		Name:     Name,
		Replicas: 1,
		Selector: kube.Labels(Name, nil),
		Container: kube.Container{
			Image: r.Image,
			Command: []string{"redis-server", "--appendonly", "yes", "--dir", "/data",
				"--maxmemory", "800mb", "--maxmemory-policy", "allkeys-lru"},
			Ports:     []kube.Port{{Name: "redis", Port: Port}},
			Resources: kube.Resources{CPU: "250m", Memory: "1Gi"},
			Readiness: kube.ExecProbe(10, "redis-cli", "ping"),
			Liveness:  kube.TCPProbe("redis", 15),
		},
		DataPath: "/data",
		Storage:  r.Storage,
	}, p, pulumi.Parent(s)); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"url": pulumi.String(s.URL)}); err != nil {
		return nil, err
	}
	return s, nil
}
