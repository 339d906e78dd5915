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

// ServerArgs are redis-server's settings. When full, Redis evicts only keys that expire (volatile-lru):
// the cache's (PostHog caches query results for days), never Celery's queues, which have no
// expiry; allkeys-lru would drop queued tasks, and noeviction would let the cache fill Redis and
// then refuse Celery's writes. maxmemory stays below the container's memory limit.
func ServerArgs() []string {
	return []string{"redis-server", "--appendonly", "yes", "--dir", DataPath,
		"--maxmemory", "800mb", "--maxmemory-policy", "volatile-lru"}
}

// Server is the deployed Redis.
type Server struct {
	pulumi.ResourceState
	// Endpoint is the server's stable host name and port.
	Endpoint kube.Endpoint
}

// URL is PostHog's REDIS_URL.
func (s *Server) URL() string {
	return fmt.Sprintf("redis://%s:%d/", s.Endpoint.Hosts[0], s.Endpoint.Port)
}

// Args is Redis's config and where it runs.
type Args struct {
	Config config.Redis
	// Exporter, when set, serves Redis's metrics (and the Celery queue's length) beside it.
	Exporter  *config.Image
	Placement kube.Placement
}

// ExporterPort is redis_exporter's (v1.88.0 --web.listen-address :9121).
const ExporterPort = 9121

// New deploys Redis.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Server, error) {
	r, p := args.Config, args.Placement
	s := &Server{Endpoint: kube.Endpoint{Hosts: []string{kube.PodHosts(Name, 1, p.NamespaceName)[0]}, Port: Port}}
	if err := ctx.RegisterComponentResource("posthog-deploy:data:Redis", name, s, opts...); err != nil {
		return nil, err
	}
	var sidecars []kube.Container
	if args.Exporter != nil {
		// The Celery queue is the list "celery" of db 0 (PostHog 1.43.0 posthog/celery.py).
		sidecars = append(sidecars, kube.Exporter(*args.Exporter, ExporterPort, map[string]pulumi.StringInput{
			"REDIS_ADDR": pulumi.Sprintf("redis://127.0.0.1:%d", Port), "REDIS_EXPORTER_CHECK_SINGLE_KEYS": pulumi.String("db0=celery")}))
	}
	set, err := kube.NewStateful(ctx, kube.Stateful{
		Name:     Name,
		Replicas: 1,
		Selector: kube.Labels(Name, nil),
		Container: kube.Container{
			Image:     r.Image,
			Command:   ServerArgs(),
			Ports:     []kube.Port{{Name: "redis", Port: Port}},
			Resources: kube.Resources{CPU: "250m", Memory: "1Gi"},
			Readiness: kube.ExecProbe(10, "redis-cli", "ping"),
			Liveness:  kube.TCPProbe("redis", 15),
		},
		Sidecars: sidecars,
		DataPath: DataPath,
		Storage:  r.Storage,
	}, p, pulumi.Parent(s))
	if err != nil {
		return nil, err
	}
	s.Endpoint.Ready = []pulumi.Resource{set}
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"url": pulumi.String(s.URL())}); err != nil {
		return nil, err
	}
	return s, nil
}
