package foundation

import (
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// PostgresExtensions are the extensions PostHog's migrations create as PostHog's user: pg_trgm
// (1.43.0 posthog/migrations/0161_property_defs_search.py, TrigramExtension). It is a trusted
// extension (PostgreSQL 13+): a user with CREATE on the database may create it, where the cloud
// allows it at all (Azure's azure.extensions allow-list).
var PostgresExtensions = []string{"pg_trgm"}

// PostgresSetup is SQL a cloud's database administrator runs once the database exists and before
// PostHog connects, where the cloud's API cannot give PostHog's user what its migrations need.
type PostgresSetup struct {
	// User and Password are the administrator's (a Pulumi secret).
	User     string
	Password pulumi.StringOutput
	SQL      []string
}

// SetupApp labels the setup Job's pods.
const SetupApp = "postgres-setup"

// newPostgresSetup runs the setup's SQL with psql (the stack's PostgreSQL image) against the
// database, verified with its CA as every client is, and stops at the first error. Its name
// carries the SQL's hash: changed SQL is a new Job, unchanged SQL is not run again.
func newPostgresSetup(ctx *pulumi.Context, cfg *config.Config, pg Postgres, p kube.Placement, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	s := pg.Setup
	selector := kube.Labels(SetupApp, nil)
	if _, err := kube.NewSecret(ctx, SetupApp, p.Namespace, selector, pulumi.StringMap{"PGPASSWORD": s.Password}, opts...); err != nil {
		return nil, err
	}
	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("PGHOST"), Value: pg.Host},
		corev1.EnvVarArgs{Name: pulumi.String("PGPORT"), Value: pulumi.Sprintf("%d", pg.Port)},
		corev1.EnvVarArgs{Name: pulumi.String("PGDATABASE"), Value: pulumi.String(pg.Database)},
		corev1.EnvVarArgs{Name: pulumi.String("PGUSER"), Value: pulumi.String(s.User)},
		corev1.EnvVarArgs{Name: pulumi.String("PGSSLMODE"), Value: pulumi.String(pg.TLS.SSLMode())},
		corev1.EnvVarArgs{Name: pulumi.String("PGPASSWORD"), ValueFrom: corev1.EnvVarSourceArgs{
			SecretKeyRef: corev1.SecretKeySelectorArgs{Name: pulumi.String(SetupApp), Key: pulumi.String("PGPASSWORD")}}},
	}
	volume, fetch, mount := pg.TLS.CAMount(cfg.Postgres.ClientImage)
	c := kube.Container{
		Image:     cfg.Postgres.Image,
		Command:   []string{"psql", "-v", "ON_ERROR_STOP=1", "-c", SetupScript(s.SQL)},
		Env:       env,
		Resources: kube.Resources{CPU: "50m", Memory: "64Mi"},
	}
	j := kube.Job{Container: c, Init: fetch, Selector: selector}
	if volume.Name != "" {
		c.Env = append(c.Env, corev1.EnvVarArgs{Name: pulumi.String("PGSSLROOTCERT"), Value: pulumi.String(CAPath)})
		c.Mounts = []kube.Mount{mount}
		j.Container, j.Volumes = c, []kube.Volume{volume}
	}
	return kube.NewJob(ctx, SetupApp+"-"+kube.Hash(SetupScript(s.SQL)), j, p, opts...)
}

// SetupScript is the setup's statements as one psql command, run in one transaction.
func SetupScript(sql []string) string {
	return "BEGIN; " + strings.Join(sql, "; ") + "; COMMIT;"
}
