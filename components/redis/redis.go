// Package redis deploys the Redis that PostHog uses as its cache and as Celery's broker, with an
// append-only file on a persistent volume so that queued tasks survive a restart, and an eviction
// policy that never drops a queued task.
package redis

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Name is the StatefulSet and Service; Port the client port; DataPath the official image's
// data directory, where the append-only file lives.
const (
	Name     = "redis"
	Port     = 6379
	DataPath = "/data"
)

// Args are redis-server's settings. When full, Redis evicts only keys that expire (volatile-lru):
// the cache's (PostHog caches query results for days), never Celery's queues, which have no
// expiry; allkeys-lru would drop queued tasks, and noeviction would let the cache fill Redis and
// then refuse Celery's writes. maxmemory stays below the container's memory limit.
func Args() []string {
	return []string{"redis-server", "--appendonly", "yes", "--dir", DataPath,
		"--maxmemory", "800mb", "--maxmemory-policy", "volatile-lru"}
}

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
			Image:     r.Image,
			Command:   Args(),
			Ports:     []kube.Port{{Name: "redis", Port: Port}},
			Resources: kube.Resources{CPU: "250m", Memory: "1Gi"},
			Readiness: kube.ExecProbe(10, "redis-cli", "ping"),
			Liveness:  kube.TCPProbe("redis", 15),
		},
		DataPath: DataPath,
		Storage:  r.Storage,
	}, p, pulumi.Parent(s)); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"url": pulumi.String(s.URL)}); err != nil {
		return nil, err
	}
	return s, nil
}
