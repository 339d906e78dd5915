// Package pgbouncer deploys PgBouncer between PostHog's services and PostgreSQL, as PostHog's own
// chart did: transaction pooling, so that hundreds of gunicorn threads, Celery workers and plugin
// servers share a few server connections. It is also the one place that speaks TLS to a cloud's
// managed database, verifying its certificate with the cloud's CA.
package pgbouncer

import (
	"fmt"
	"net/url"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// Name is the Deployment and the Service PostHog connects to; Port its listener (PgBouncer's
// default); ConfDir holds pgbouncer.ini and userlist.txt.
const (
	Name    = labels.PgBouncer
	Port    = 6432
	ConfDir = "/etc/pgbouncer-posthog"
)

// Pooler is the deployed PgBouncer.
type Pooler struct {
	pulumi.ResourceState
	// Endpoint is where PostHog's services connect: PgBouncer, with PostHog's database and
	// credentials, inside the cluster.
	Endpoint foundation.Postgres
}

// Args is PgBouncer's config and what it pools.
type Args struct {
	Config config.PgBouncer
	// Upstream is the PostgreSQL server, with how to verify its certificate.
	Upstream foundation.Postgres
	// Fetch is the image that fetches a CA bundle the cloud publishes as a file.
	Fetch config.Image
	// Exporter, when set, serves PgBouncer's pools as metrics beside each replica.
	Exporter  *config.Image
	Placement kube.Placement
}

// ExporterPort is pgbouncer_exporter's (v0.12.1, :9127).
const ExporterPort = 9127

// Ini renders pgbouncer.ini for the database name on host:port. Clients authenticate with
// SCRAM against userlist.txt, whose password PgBouncer also uses to log in to the server.
func Ini(pb config.PgBouncer, host string, port int, database string, tls foundation.PostgresTLS) string {
	lines := []string{
		"[databases]",
		fmt.Sprintf("%s = host=%s port=%d dbname=%s", database, host, port, database),
		"",
		"[pgbouncer]",
		"listen_addr = 0.0.0.0",
		fmt.Sprintf("listen_port = %d", Port),
		"unix_socket_dir =",
		"auth_type = scram-sha-256",
		"auth_file = " + ConfDir + "/userlist.txt",
		"pool_mode = transaction",
		fmt.Sprintf("max_client_conn = %d", pb.MaxClientConnections),
		fmt.Sprintf("default_pool_size = %d", pb.PoolSize),
		"ignore_startup_parameters = extra_float_digits",
		"server_tls_sslmode = " + tls.SSLMode(),
	}
	if tls.Verified() {
		lines = append(lines, "server_tls_ca_file = "+foundation.CAPath)
	}
	return strings.Join(lines, "\n") + "\n"
}

// Userlist renders PgBouncer's auth_file: the user and its password, quoted, with a double
// quote in either written twice.
func Userlist(user, password string) string {
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	return q(user) + " " + q(password) + "\n"
}

// New deploys PgBouncer in front of args.Upstream.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Pooler, error) {
	pb, up, p := args.Config, args.Upstream, args.Placement
	pooler := &Pooler{Endpoint: foundation.Postgres{
		Host:     pulumi.String(kube.ServiceHost(Name, p.NamespaceName)).ToStringOutput(),
		Port:     Port,
		Database: up.Database,
		User:     up.User,
		Password: up.Password,
		TLS:      foundation.PostgresTLS{Mode: "disable"},
	}}
	// The pooler starts once the database it pools exists.
	opts = append(opts, pulumi.DependsOn(up.Ready))
	if err := ctx.RegisterComponentResource("posthog-deploy:data:PgBouncer", name, pooler, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(pooler)
	labels := kube.Labels(Name, nil)
	ini := up.Host.ApplyT(func(host string) string {
		ini := Ini(pb, host, up.Port, up.Database, up.TLS)
		if args.Exporter != nil {
			// The exporter asks the admin console SHOW POOLS/STATS as PostHog's user ([pgbouncer]
			// is the ini's last section).
			ini += "stats_users = " + up.User + "\n"
		}
		return ini
	}).(pulumi.StringOutput)
	if _, err := kube.NewConfigMap(ctx, Name, p.Namespace, labels, pulumi.StringMap{"pgbouncer.ini": ini}, child); err != nil {
		return nil, err
	}
	users := up.Password.ApplyT(func(pw string) string { return Userlist(up.User, pw) }).(pulumi.StringOutput)
	secret := pulumi.StringMap{"userlist.txt": pulumi.ToSecret(users).(pulumi.StringOutput)}
	if args.Exporter != nil {
		secret[exporterDSN] = up.Password.ApplyT(func(pw string) string { return ExporterDSN(up.User, pw) }).(pulumi.StringOutput)
	}
	if _, err := kube.NewSecret(ctx, Name, p.Namespace, labels, secret, child); err != nil {
		return nil, err
	}
	config := kube.Mount{Volume: "config", Path: ConfDir}
	volumes := []kube.Volume{{Name: "config", ConfigMaps: []string{Name}, Secrets: []string{Name}}}
	mounts := []kube.Mount{config}
	caVolume, fetchCA, caMount := up.TLS.CAMount(args.Fetch)
	if caVolume.Name != "" {
		volumes, mounts = append(volumes, caVolume), append(mounts, caMount)
	}
	// Both files roll the pods when they change (PgBouncer reads them at start).
	hash := pulumi.All(ini, users).ApplyT(func(v []any) string { return kube.Hash(v[0].(string), v[1].(string)) }).(pulumi.StringOutput)
	deployment, err := kube.NewStateless(ctx, kube.Stateless{
		Name: Name, Min: pb.Replicas, Max: pb.Replicas,
		Selector: labels,
		Container: kube.Container{
			Image:     pb.Image,
			Command:   []string{"pgbouncer", ConfDir + "/pgbouncer.ini"},
			Ports:     []kube.Port{{Name: "postgres", Port: Port}},
			Resources: kube.Resources{CPU: "100m", Memory: "128Mi"},
			Readiness: kube.TCPProbe("postgres", 5),
			Liveness:  kube.TCPProbe("postgres", 20),
			Mounts:    mounts,
		},
		Sidecars:       exporter(args.Exporter),
		Init:           fetchCA,
		Volumes:        volumes,
		PodAnnotations: pulumi.StringMap{"posthog-deploy/config-hash": pulumi.ToSecret(hash).(pulumi.StringOutput)},
	}, p, child)
	if err != nil {
		return nil, err
	}
	pooler.Endpoint.Ready = []pulumi.Resource{deployment}
	if err := ctx.RegisterResourceOutputs(pooler, pulumi.Map{"host": pooler.Endpoint.Host}); err != nil {
		return nil, err
	}
	return pooler, nil
}

// exporterDSN is the key of the exporter's connection string in the pooler's Secret.
const exporterDSN = "exporter-dsn"

// exporter is pgbouncer_exporter beside a replica, reading its admin console as PostHog's user.
func exporter(image *config.Image) []kube.Container {
	if image == nil {
		return nil
	}
	e := kube.Exporter(*image, ExporterPort, nil)
	e.Env = corev1.EnvVarArray{corev1.EnvVarArgs{Name: pulumi.String("PGBOUNCER_EXPORTER_CONNECTION_STRING"), ValueFrom: corev1.EnvVarSourceArgs{
		SecretKeyRef: corev1.SecretKeySelectorArgs{Name: pulumi.String(Name), Key: pulumi.String(exporterDSN)}}}}
	return []kube.Container{e}
}

// ExporterDSN is the exporter's connection to PgBouncer's admin console (database pgbouncer)
// on loopback, as user with password, encoded as a URL's user info (lib/pq parses it with
// net/url: a query-escaped space, "+", would stay a plus).
func ExporterDSN(user, password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: fmt.Sprintf("127.0.0.1:%d", Port),
		Path: "/pgbouncer", RawQuery: "sslmode=disable"}
	return u.String()
}
