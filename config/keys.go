package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Key is one key of the project's config namespace (posthog-deploy:<Name>).
type Key struct {
	Name        string
	Description string
	// Object keys hold a JSON object overlaid on the environment's defaults; the others a string.
	Object bool
	// Required keys have no default: the engine refuses a stack without them.
	Required bool
	// Secret keys must be set with `pulumi config set --secret` (the program refuses plain text).
	Secret bool
}

// Keys are every key a stack may set: Pulumi.yaml declares them (ProjectConfig), and a key of
// the namespace that is not here is an error (CheckKeys), so a typo never leaves defaults in place.
var Keys = []Key{
	{Name: "cloud", Required: true, Description: "Where the stack runs: local (an existing cluster), aws, gcp, digitalocean or azure."},
	{Name: "environment", Required: true, Description: "dev, staging or prod: the safe minimums the stack is held to."},
	{Name: "namespace", Description: "The Kubernetes namespace of the platform (default posthog)."},
	{Name: "region", Description: "The cloud region (required on clouds)."},
	{Name: "project", Description: "The GCP project id (gcp only)."},
	{Name: "cluster", Object: true, Description: "The cluster: version, networkCidr, apiAllowedCidrs, admins (cluster-admins: IAM ARNs on AWS, Entra ID groups on Azure), general and clickhouse node pools, storageClass, spreadZones."},
	{Name: "zookeeper", Object: true, Description: "ZooKeeper: replicas, purgeIntervalHours, snapRetainCount, image, storage."},
	{Name: "kafka", Object: true, Description: "Kafka: brokers, replicationFactor, minInsyncReplicas, partitions, retentionHours, storage, image."},
	{Name: "redis", Object: true, Description: "Redis: image, storage."},
	{Name: "clickhouse", Object: true, Description: "ClickHouse: cluster, shards, replicas, image, storage, allowExperimental, backup, coldStorage."},
	{Name: "postgres", Object: true, Description: "PostgreSQL: version, instanceClass, storage, backupRetentionDays, highAvailability, image, clientImage."},
	{Name: "pgbouncer", Object: true, Description: "PgBouncer: image, replicas, poolSize, maxClientConnections."},
	{Name: "objectStore", Object: true, Description: "Buckets: bucketPrefix (global names), noncurrentVersionDays; image, clientImage, storage on local."},
	{Name: "posthog", Object: true, Description: "PostHog: image, domain, web, events, plugins, workers."},
	{Name: "monitoring", Object: true, Description: "Monitoring: enabled (staging and prod), stack (install or existing), namespace (Prometheus'), labels, backupSlackHours, integritySchedule, retentionDays, storage."},
	{Name: "secretKey", Secret: true, Description: "Django's SECRET_KEY, at least 32 characters (secret)."},
	{Name: "postgresPassword", Secret: true, Description: "The PostgreSQL password, at least 16 characters (secret; not on digitalocean)."},
	{Name: "clickhousePassword", Secret: true, Description: "The ClickHouse password, at least 16 characters (secret)."},
	{Name: "objectStoreSecretKey", Secret: true, Description: "The local object store's key, at least 16 characters (secret; local only)."},
}

// CheckKeys refuses the keys of this project's namespace that are not Keys, naming each and
// the key it most likely meant. Keys of other namespaces (a provider's, such as aws:region) pass.
func CheckKeys(keys []string) error {
	var errs Errors
	names := make([]string, len(Keys))
	for i, k := range Keys {
		names[i] = k.Name
	}
	for _, full := range keys {
		name, ours := strings.CutPrefix(full, Namespace+":")
		if !ours || slices.Contains(names, name) {
			continue
		}
		detail := "is not a key of this project: the keys are " + strings.Join(names, ", ")
		if near := nearest(name, names); near != "" {
			detail = fmt.Sprintf("is not a key of this project: did you mean %q? (the keys are %s)", near, strings.Join(names, ", "))
		}
		errs = append(errs, FieldError{Key: name, Detail: detail})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// CheckConfigJSON checks the keys of a config map as the engine hands it to a program run by the
// CLI (the PULUMI_CONFIG environment variable).
func CheckConfigJSON(raw string) error {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil // not ours to judge: the SDK reads it too
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return CheckKeys(keys)
}

// nearest is the name within two edits of s, if any.
func nearest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// ProjectConfig is the `config:` block of Pulumi.yaml: every key with its description; the
// required ones without a default (the engine asks for them), the others with an empty one
// that the program reads as unset ("" or {}). Secrets carry no type: a default cannot be secret,
// and the program refuses a plain value.
func ProjectConfig() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, k := range Keys {
		d := map[string]any{"description": k.Description}
		switch {
		case k.Required:
			d["type"] = "string"
		case k.Object:
			d["default"] = map[string]any{}
		case k.Secret:
			d["default"] = ""
		default:
			d["type"] = "string"
			d["default"] = ""
		}
		out[k.Name] = d
	}
	return out
}
