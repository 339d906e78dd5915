package foundation

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// What every cloud shares: names, protection, the address plan, the node pools, the database
// PostHog connects as, and a kubeconfig that asks the cloud's CLI for a token.

// Name is the stack's cluster, network and database name on its cloud.
func Name(cfg *config.Config) string { return "posthog-" + string(cfg.Environment) }

// Keep are the options of a data resource (database, bucket, key): in staging and prod it is
// protected, so `pulumi destroy` or a replacement fails instead of deleting it, and retained, so
// that even an unprotected delete (a rename, a removed stack) leaves it in the cloud.
func Keep(cfg *config.Config, opts ...pulumi.ResourceOption) []pulumi.ResourceOption {
	p := cfg.Environment.Protected()
	return append(opts, pulumi.Protect(p), pulumi.RetainOnDelete(p))
}

// Disposable says the stack's data may go with it: a dev stack's `pulumi destroy` empties its
// buckets (force destroy) and its volumes go with their claims (reclaim policy Delete), so that
// nothing is left behind to pay for. Never in staging or prod (policy PH-ST-002).
func Disposable(cfg *config.Config) bool { return !cfg.Environment.Protected() }

// Pool is a node pool every cloud creates: "general" for everything, "clickhouse" labelled and
// tainted for ClickHouse's replicas only (kube.PoolLabel).
type Pool struct {
	Name string
	config.NodePool
	Labels map[string]string
}

// ClickHousePool names the dedicated pool of ClickHouse's replicas.
const ClickHousePool = "clickhouse"

// Pools are the stack's node pools.
func Pools(cfg *config.Config) []Pool {
	return []Pool{
		{Name: "general", NodePool: cfg.Cluster.General, Labels: map[string]string{kube.PoolLabel: "general"}},
		{Name: ClickHousePool, NodePool: cfg.Cluster.ClickHouse, Labels: map[string]string{kube.PoolLabel: ClickHousePool}},
	}
}

// Database is PostHog's database and user on a managed PostgreSQL.
type Database struct{ Name, User string }

// PostgresDatabase is the database every cloud creates for PostHog.
var PostgresDatabase = Database{Name: "posthog", User: "posthog"}

// At is the endpoint of the database on host.
func (d Database) At(host pulumi.StringOutput, password pulumi.StringOutput) Postgres {
	return Postgres{Host: host, Port: 5432, Database: d.Name, User: d.User, Password: password}
}

// ExecKubeconfig is a kubeconfig for a managed cluster whose tokens come from the cloud's CLI
// (aws eks get-token, gke-gcloud-auth-plugin, …): no long-lived credential is stored. A Pulumi
// secret all the same.
func ExecKubeconfig(name string, endpoint, caData pulumi.StringOutput, command string, args ...string) pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.All(endpoint, caData).ApplyT(func(v []any) (string, error) {
		server := v[0].(string)
		if server != "" && server[0] != 'h' {
			server = "https://" + server
		}
		doc := map[string]any{
			"apiVersion": "v1", "kind": "Config", "current-context": name,
			"clusters": []any{map[string]any{"name": name, "cluster": map[string]any{
				"server": server, "certificate-authority-data": v[1]}}},
			"contexts": []any{map[string]any{"name": name, "context": map[string]any{"cluster": name, "user": name}}},
			"users": []any{map[string]any{"name": name, "user": map[string]any{"exec": map[string]any{
				"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "args": args,
				"interactiveMode": "Never"}}}},
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return "", fmt.Errorf("rendering the kubeconfig of %s: %w", name, err)
		}
		return string(b), nil
	})).(pulumi.StringOutput)
}
