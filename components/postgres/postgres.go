// Package postgres deploys an in-cluster PostgreSQL, the stand-in for a managed database where
// the stack has no cloud (the local stack). It returns the same endpoint shape the clouds'
// managed databases do.
package postgres

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Name is the StatefulSet and Service; Port is PostgreSQL's.
const (
	Name = "postgres"
	Port = 5432
)

// db is the database and user PostHog connects as, the same a cloud creates.
var db = foundation.PostgresDatabase

// Server is the deployed PostgreSQL.
type Server struct {
	pulumi.ResourceState
	Endpoint foundation.Postgres
}

// Args is the server's config, PostHog's password on it, and where it runs.
type Args struct {
	Config config.Postgres
	// Password is PostHog's user's password, a Pulumi secret.
	Password pulumi.StringOutput
	// Exporter, when set, serves PostgreSQL's metrics beside it.
	Exporter  *config.Image
	Placement kube.Placement
}

// ExporterPort is postgres_exporter's (v0.20.1, :9187).
const ExporterPort = 9187

// New deploys one PostgreSQL server with PostHog's database and user.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Server, error) {
	pg, password, p := args.Config, args.Password, args.Placement
	s := &Server{}
	if err := ctx.RegisterComponentResource("posthog-deploy:data:Postgres", name, s, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(s)
	selector := kube.Labels(Name, nil)
	if _, err := kube.NewSecret(ctx, Name, p.Namespace, selector, pulumi.StringMap{"POSTGRES_PASSWORD": password}, child); err != nil {
		return nil, err
	}
	secretEnv := corev1.EnvFromSourceArray{corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(Name)}}}
	ready := kube.ExecProbe(10, "pg_isready", "-U", db.User, "-d", db.Name, "-h", "127.0.0.1")
	var sidecars []kube.Container
	if args.Exporter != nil {
		e := kube.Exporter(*args.Exporter, ExporterPort, map[string]pulumi.StringInput{
			"DATA_SOURCE_URI":  pulumi.Sprintf("127.0.0.1:%d/%s?sslmode=disable", Port, db.Name),
			"DATA_SOURCE_USER": pulumi.String(db.User)})
		e.Env = append(e.Env, corev1.EnvVarArgs{Name: pulumi.String("DATA_SOURCE_PASS"), ValueFrom: corev1.EnvVarSourceArgs{
			SecretKeyRef: corev1.SecretKeySelectorArgs{Name: pulumi.String(Name), Key: pulumi.String("POSTGRES_PASSWORD")}}})
		sidecars = append(sidecars, e)
	}
	set, err := kube.NewStateful(ctx, kube.Stateful{
		Name:     Name,
		Replicas: 1,
		Selector: selector,
		Container: kube.Container{
			Image: pg.Image,
			Env: corev1.EnvVarArray{
				corev1.EnvVarArgs{Name: pulumi.String("POSTGRES_USER"), Value: pulumi.String(db.User)},
				corev1.EnvVarArgs{Name: pulumi.String("POSTGRES_DB"), Value: pulumi.String(db.Name)},
				corev1.EnvVarArgs{Name: pulumi.String("PGDATA"), Value: pulumi.String("/var/lib/postgresql/data/pgdata")},
			},
			EnvFrom:   secretEnv,
			Ports:     []kube.Port{{Name: "postgres", Port: Port}},
			Resources: kube.Resources{CPU: "250m", Memory: "1Gi"},
			Readiness: ready,
			Liveness:  kube.TCPProbe("postgres", 15),
		},
		Sidecars: sidecars,
		DataPath: "/var/lib/postgresql/data",
		Storage:  pg.Storage,
	}, p, child)
	if err != nil {
		return nil, err
	}
	s.Endpoint = db.At(pulumi.String(kube.ServiceHost(Name, p.NamespaceName)).ToStringOutput(), password)
	// The stand-in speaks no TLS: it is reached inside the cluster only.
	s.Endpoint.TLS = foundation.PostgresTLS{Mode: "disable"}
	s.Endpoint.Ready = []pulumi.Resource{set}
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"host": s.Endpoint.Host}); err != nil {
		return nil, err
	}
	return s, nil
}
