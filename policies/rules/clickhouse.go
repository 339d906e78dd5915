package rules

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// The labels ClickHouse's replicas carry (config/labels, as components/clickhouse sets them).
const (
	chName     = labels.ClickHouse
	shardLabel = labels.Shard
	zoneKey    = labels.Zone
	hostKey    = labels.Host
)

// clickHouseReplica says whether a StatefulSet runs a ClickHouse replica, by its name label or,
// should the label be missing, by its image; shard is its shard label, "" when missing (which
// the rules report: a missing label never takes a replica out of their sight).
func clickHouseReplica(r Resource) (replica bool, shard string) {
	if r.Type != StatefulSet {
		return false, ""
	}
	l := podLabels(r)
	if l[labels.App] == chName {
		return true, l[shardLabel]
	}
	server := config.Repository(config.Current().ClickHouse.Image.Ref)
	for _, c := range containers(r) {
		if image, ok := str(at(c, "image")); ok && config.Repository(image) == server {
			return true, l[shardLabel]
		}
	}
	return false, ""
}

func unlabelled(r Resource) string {
	return fmt.Sprintf("ClickHouse StatefulSet %s has no %s label on its pods: its shard cannot be known", r.Name, shardLabel)
}

var (
	// zeroCopy matches zero-copy replication switched on in XML config, SQL SETTINGS, or a
	// key=value setting, under its current and older names.
	zeroCopy = regexp.MustCompile(`(?i)allow_(remote_fs|s3|hdfs|gcs|azure)_zero_copy_replication\s*(>|=)\s*['"]?(1|true)\b`)
	// experimental matches an allow_experimental_* setting switched on.
	experimental = regexp.MustCompile(`(?i)(allow_experimental_[a-z0-9_]+)\s*(>|=)\s*['"]?(1|true)\b`)
)

var configCarriers = append([]string{ConfigMap, Secret}, Workloads...)

func clickHouseRules() []Rule {
	return []Rule{{
		ID: "PH-CH-001", Name: "clickhouse-no-zero-copy-replication",
		Why: "Zero-copy replication is experimental: replicas share one copy of each part on object storage, and a " +
			"bug or a bucket without versioning deletes data that every replica relied on. PostHog lost a region's " +
			"Logs data this way.",
		Fix:      "Remove the setting, or set allow_remote_fs_zero_copy_replication to 0 (components/clickhouse does).",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: configCarriers,
		Check: func(_ Context, r Resource) []string {
			var out []string
			for where, text := range configTexts(r) {
				if m := zeroCopy.FindString(text); m != "" {
					out = append(out, fmt.Sprintf("%s switches zero-copy replication on (%s)", where, m))
				}
			}
			sort.Strings(out)
			return out
		},
		Pass: []Fixture{
			{Name: "off", Resources: []Resource{configMap("clickhouse-config", "posthog.xml",
				"<merge_tree><allow_remote_fs_zero_copy_replication>0</allow_remote_fs_zero_copy_replication></merge_tree>")}},
			{Name: "unknown data", Resources: []Resource{res(ConfigMap, "c", map[string]any{"data": unknown})}},
		},
		Fail: []Fixture{
			{Name: "merge_tree XML", Resources: []Resource{configMap("clickhouse-config", "posthog.xml",
				"<merge_tree><allow_remote_fs_zero_copy_replication>1</allow_remote_fs_zero_copy_replication></merge_tree>")}},
			{Name: "older S3 name in a profile", Resources: []Resource{configMap("profiles", "p.xml",
				"<profiles><default><allow_s3_zero_copy_replication>true</allow_s3_zero_copy_replication></default></profiles>")}},
			{Name: "table SETTINGS", Resources: []Resource{configMap("schema", "events.sql",
				"CREATE TABLE e (...) ENGINE = ReplicatedMergeTree SETTINGS allow_remote_fs_zero_copy_replication = 1")}},
			{Name: "container env", Resources: []Resource{workload(StatefulSet, "ch", 1, nil, container("clickhouse:24.8",
				map[string]any{"env": []any{map[string]any{"name": "CH_SETTINGS", "value": "allow_remote_fs_zero_copy_replication=1"}}}), nil)}},
		},
	}, {
		ID: "PH-CH-002", Name: "clickhouse-experimental-settings-allowed",
		Why: "Experimental ClickHouse features change storage formats and replication behaviour between releases; " +
			"each one switched on must be a decision a reviewer made for that stack.",
		Fix: "Remove the setting, or add its name to this policy's allowExperimental list in the stack's policy " +
			"config (and to posthog-deploy:clickhouse.allowExperimental).",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: configCarriers,
		Config: &policyx.ConfigSchema{Properties: map[string]map[string]any{
			"allowExperimental": {"type": "array", "items": map[string]any{"type": "string"}},
		}},
		Check: func(ctx Context, r Resource) []string {
			var out []string
			for where, text := range configTexts(r) {
				for _, m := range experimental.FindAllStringSubmatch(text, -1) {
					if !slices.Contains(ctx.AllowExperimental, m[1]) {
						out = append(out, fmt.Sprintf("%s enables %s, which is not on the allow-list", where, m[1]))
					}
				}
			}
			sort.Strings(out)
			return out
		},
		Pass: []Fixture{
			{Name: "none", Resources: []Resource{configMap("p", "profiles.xml", "<profiles><default><max_threads>8</max_threads></default></profiles>")}},
			{Name: "allowed by config", Context: Context{AllowExperimental: []string{"allow_experimental_object_type"}},
				Resources: []Resource{configMap("p", "profiles.xml", "<allow_experimental_object_type>1</allow_experimental_object_type>")}},
		},
		Fail: []Fixture{
			{Name: "not allowed", Resources: []Resource{configMap("p", "profiles.xml", "<allow_experimental_object_type>1</allow_experimental_object_type>")}},
		},
	}, {
		ID: "PH-CH-003", Name: "clickhouse-replicas-per-shard",
		Why:      "A shard with one replica loses its data with its disk, and cannot be upgraded without downtime.",
		Fix:      "Set posthog-deploy:clickhouse.replicas to 2 or more in staging and prod.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{StatefulSet},
		CheckStack: func(ctx Context, rs []Resource) []Violation {
			if !ctx.HA() {
				return nil
			}
			shards := map[string]int{}
			var out []Violation
			for _, r := range rs {
				replica, shard := clickHouseReplica(r)
				if !replica {
					continue
				}
				if shard == "" {
					out = append(out, Violation{URN: r.URN, Message: unlabelled(r)})
					continue
				}
				n, ok := num(at(props(r), "spec", "replicas"))
				if !ok {
					n = 1
				}
				shards[shard] += int(n)
			}
			for _, s := range slices.Sorted(maps.Keys(shards)) {
				if shards[s] < 2 {
					out = append(out, Violation{Message: fmt.Sprintf("shard %s has %d replica(s) in %s", s, shards[s], envName(ctx))})
				}
			}
			return out
		},
		Pass: []Fixture{
			{Name: "2 replicas", Context: Context{Environment: "prod"}, Resources: []Resource{chReplica("0", "0", true), chReplica("0", "1", true)}},
			{Name: "dev may run one", Context: Context{Environment: "dev"}, Resources: []Resource{chReplica("0", "0", true)}},
		},
		Fail: []Fixture{
			{Name: "1 replica in prod", Context: Context{Environment: "prod"},
				Resources: []Resource{chReplica("0", "0", true), chReplica("0", "1", true), chReplica("1", "0", true)}},
			{Name: "shard label renamed", Context: Context{Environment: "prod"}, Resources: []Resource{unlabelledReplica()}},
		},
	}, {
		ID: "PH-CH-004", Name: "clickhouse-replicas-spread-over-zones",
		Why: "Replicas of one shard in one zone go down together: a zone outage then loses the shard.",
		Fix: "Give each replica a topologySpreadConstraint on topology.kubernetes.io/zone with whenUnsatisfiable DoNotSchedule over its shard's pods " +
			"(components/kube does when cluster.spreadZones is on). On DigitalOcean, whose regions have no zones, the same constraint on kubernetes.io/hostname.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{StatefulSet},
		Check: func(ctx Context, r Resource) []string {
			replica, shard := clickHouseReplica(r)
			if !replica || !ctx.HA() {
				return nil
			}
			if shard == "" {
				return []string{unlabelled(r)}
			}
			constraints := at(podSpec(r), "topologySpreadConstraints")
			if constraints.IsComputed() {
				return nil
			}
			if constraints.IsArray() {
				for _, c := range constraints.AsArray().All {
					key, _ := str(at(c, "topologyKey"))
					when, _ := str(at(c, "whenUnsatisfiable"))
					want := zoneKey
					if !ctx.Zoned() {
						want = hostKey
					}
					if key == want && when == "DoNotSchedule" && labelMap(at(c, "labelSelector", "matchLabels"))[shardLabel] == shard {
						return nil
					}
				}
			}
			return []string{fmt.Sprintf("replica of shard %s is not kept out of its shard's other zones", shard)}
		},
		Pass: []Fixture{{Name: "spread", Context: Context{Environment: "prod"}, Resources: []Resource{chReplica("0", "0", true)}},
			{Name: "nodes apart where there are no zones", Context: Context{Environment: "prod", Cloud: "digitalocean"},
				Resources: []Resource{chReplicaSpreadOn("0", "0", hostKey)}}},
		Fail: []Fixture{{Name: "no spread", Context: Context{Environment: "prod"}, Resources: []Resource{chReplica("0", "0", false)}},
			{Name: "no labels at all", Context: Context{Environment: "prod"}, Resources: []Resource{unlabelledReplica()}},
			{Name: "a zone spread where there are no zones", Context: Context{Environment: "prod", Cloud: "digitalocean"},
				Resources: []Resource{chReplica("0", "0", true)}}},
	}}
}

// unlabelledReplica is a ClickHouse replica whose pods carry none of the program's labels.
func unlabelledReplica() Resource {
	return workload(StatefulSet, "chi-posthog-0-0", 1, map[string]string{"app": "db"},
		container(config.Current().ClickHouse.Image.Ref, nil), nil)
}

func chReplica(shard, replica string, spread bool) Resource {
	if spread {
		return chReplicaSpreadOn(shard, replica, zoneKey)
	}
	return chReplicaSpreadOn(shard, replica, "")
}

// chReplicaSpreadOn is a replica kept apart from its shard's others over key ("" for not at all).
func chReplicaSpreadOn(shard, replica, key string) Resource {
	pods := map[string]string{labels.App: chName, shardLabel: shard, labels.Replica: replica}
	spec := map[string]any{}
	if key != "" {
		spec["topologySpreadConstraints"] = []any{map[string]any{
			"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
			"labelSelector": map[string]any{"matchLabels": map[string]string{labels.App: chName, shardLabel: shard}},
		}}
	}
	return workload(StatefulSet, "chi-posthog-"+shard+"-"+replica, 1, pods, container(config.Current().ClickHouse.Image.Ref, nil), spec)
}

func envName(ctx Context) string {
	if ctx.Environment == "" {
		return "an environment held to prod's minimums"
	}
	return strconv.Quote(ctx.Environment)
}
