package monitoring

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// The integrity check is the lesson of the Logs post-mortem, where a background deletion
// emptied the cold tier while every dashboard stayed green. For each ClickHouse replica, on a
// schedule, it asks ClickHouse which objects its cold disk references, lists what the bucket
// holds under that replica's prefix, asks ClickHouse again (an object a merge removed in
// between is not missing), and counts the objects of every remote backup of the replica's
// shard. The results go to a Pushgateway; the alerts fire on any missing object, on a backup
// whose object count dropped, and on a check that stops reporting.
const (
	IntegrityApp = "integrity-check"
	// IntegrityJob is the job label the check pushes its metrics under.
	IntegrityJob = "posthog-integrity"
	workDir      = "/work"
	// remote is rclone's name for the store, configured from RCLONE_CONFIG_STORE_* variables.
	remote = "store"
)

// Integrity is what the check looks at and the images it runs.
type Integrity struct {
	Store foundation.ObjectStorage
	// Replicas are the ClickHouse replicas to check, each with its shard's backups.
	Replicas []IntegrityReplica
	// ColdDisk names ClickHouse's object disk; "" when the cold tier is off (only the backups
	// are counted then).
	ColdDisk string
	// Password is PostHog's ClickHouse password, a Pulumi secret.
	Password pulumi.StringOutput
	// Images: ClickHouse's (its client), rclone (lists every cloud's buckets), curl (pushes),
	// the Pushgateway.
	ClickHouse, Lister, Pusher, Pushgateway config.Image
}

// IntegrityReplica is one replica: its name and host, where its cold disk writes in the data
// bucket, and where its shard's backups are in the backups bucket (each a prefix without a
// trailing slash).
type IntegrityReplica struct {
	Name, Host, ColdPrefix, BackupPath string
	Shard                              int
}

// ReferencedQuery lists the objects a disk references, one per line (ClickHouse 22.8
// system.remote_data_paths).
func ReferencedQuery(disk string) string {
	return fmt.Sprintf("SELECT remote_path FROM system.remote_data_paths WHERE disk_name = '%s' FORMAT TSVRaw", disk)
}

// ListScript lists what the bucket holds under the replica's cold prefix (one key per line,
// relative to it) and, for each backup under the shard's path that is there before and after
// it is counted, "<backup> <objects> <bytes>".
func ListScript(r IntegrityReplica, data, backups string, cold bool) string {
	lines := []string{"set -eu"}
	if cold {
		lines = append(lines, fmt.Sprintf("rclone lsf -R --files-only %s:%s/%s/ > %s/listed", remote, data, r.ColdPrefix, workDir))
	}
	w := workDir
	lines = append(lines,
		fmt.Sprintf("base=%s:%s/%s", remote, backups, r.BackupPath),
		`rclone lsf --dirs-only "$base/" > `+w+"/backups.before",
		": > "+w+"/backups.sized",
		"for b in $(cat "+w+"/backups.before); do",
		`  b=${b%/}`,
		// rclone size --json prints {"count":N,"bytes":N,...} on one line.
		`  rclone size --json "$base/$b" | sed -n "s/.*\"count\":\([0-9]*\).*\"bytes\":\([0-9]*\).*/$b \1 \2/p" >> `+w+"/backups.sized",
		"done",
		// A backup retention deleted while it was being counted is gone, not shrunk: keep only
		// the backups still listed afterwards.
		`rclone lsf --dirs-only "$base/" > `+w+"/backups.after",
		`awk 'FILENAME==ARGV[1]{keep[$1]=1;next} ($1"/") in keep' `+w+"/backups.after "+w+"/backups.sized > "+w+"/backups")
	return strings.Join(lines, "\n")
}

// ReportScript turns the files the other steps wrote into metrics (the Prometheus text format)
// and pushes them to the Pushgateway under the replica's name, replacing its previous ones. An
// object counts as missing when ClickHouse referenced it before and after the listing and the
// listing lacks it; keys compare by their last path element, which ClickHouse generates at
// random, so a different prefix convention cannot hide or invent a loss.
func ReportScript(pushURL string, cold bool) string {
	w := workDir
	lines := []string{"set -eu", "now=$(date +%s)", ": > " + w + "/metrics"}
	if cold {
		lines = append(lines,
			`base() { sed 's|.*/||' "$1" | sort -u; }`,
			"base "+w+"/referenced.1 > "+w+"/r1; base "+w+"/referenced.2 > "+w+"/r2; base "+w+"/listed > "+w+"/l",
			// Referenced both times, and not listed.
			"missing=$(awk 'FILENAME==ARGV[1]{a[$0]=1;next} FILENAME==ARGV[2]{if($0 in a)b[$0]=1;next} {delete b[$0]} END{n=0;for(k in b)n++;print n}' "+
				w+"/r1 "+w+"/r2 "+w+"/l)",
			`echo "# TYPE posthog_cold_objects_missing gauge" >> `+w+"/metrics",
			`echo "posthog_cold_objects_missing $missing" >> `+w+"/metrics",
			`echo "posthog_cold_objects_referenced $(wc -l < `+w+`/r2)" >> `+w+"/metrics",
			`echo "posthog_cold_objects_listed $(wc -l < `+w+`/l)" >> `+w+"/metrics")
	}
	lines = append(lines,
		`echo "posthog_clickhouse_detached_parts $(cat `+w+`/detached)" >> `+w+"/metrics",
		`echo "# TYPE posthog_backup_objects gauge" >> `+w+"/metrics",
		`awk '{print "posthog_backup_objects{backup=\""$1"\"} "$2; print "posthog_backup_bytes{backup=\""$1"\"} "$3}' `+w+"/backups >> "+w+"/metrics",
		`echo "posthog_backups_remote $(wc -l < `+w+`/backups)" >> `+w+"/metrics",
		`echo "posthog_integrity_last_success_timestamp_seconds $now" >> `+w+"/metrics",
		"cat "+w+"/metrics",
		// PUT replaces every metric of the replica's group (pushgateway v1.11.1 main.go: PUT
		// routes with replace); a POST would keep a series this run no longer has, such as a
		// backup retention removed or the cold tier turned off.
		fmt.Sprintf(`curl -sSf -X PUT --data-binary @%s/metrics "%s"`, w, pushURL))
	return strings.Join(lines, "\n")
}

// ListerEnv configures rclone's remote for the store, in the backups' protocol: S3 (with keys,
// or the pod's workload identity through the SDK's default chain), Azure Blob, or Google Cloud
// Storage through the pod's workload identity.
func ListerEnv(store foundation.ObjectStorage) map[string]string {
	key := func(k string) string { return "RCLONE_CONFIG_" + strings.ToUpper(remote) + "_" + k }
	env := map[string]string{}
	switch store.Backup() {
	case config.AzureBlob:
		env[key("TYPE")] = "azureblob"
		if store.BackupKeys() == nil {
			// rclone v1.72.0 backend/azureblob: env_auth takes DefaultAzureCredential (workload identity).
			env[key("ENV_AUTH")] = "true"
			env[key("ACCOUNT")] = store.Account
		}
		return env
	case config.GCS:
		// rclone v1.72.0 backend/googlecloudstorage: env_auth takes Google's default credentials.
		env[key("TYPE")] = "google cloud storage"
		env[key("ENV_AUTH")] = "true"
		env[key("BUCKET_POLICY_ONLY")] = "true"
		return env
	}
	env[key("TYPE")] = "s3"
	env[key("PROVIDER")] = "Other"
	if strings.HasSuffix(store.Endpoint, ".amazonaws.com") {
		env[key("PROVIDER")] = "AWS"
	}
	env[key("REGION")] = store.Region
	if store.Endpoint != "" {
		env[key("ENDPOINT")] = store.Endpoint
	}
	if store.BackupKeys() == nil {
		env[key("ENV_AUTH")] = "true"
	}
	return env
}

// listerKeys are the backups' static keys under rclone's names.
func listerKeys(store foundation.ObjectStorage) pulumi.StringMap {
	key := func(k string) string { return "RCLONE_CONFIG_" + strings.ToUpper(remote) + "_" + k }
	c := store.BackupKeys()
	if store.Backup() == config.AzureBlob {
		return pulumi.StringMap{key("ACCOUNT"): c.AccessKey, key("KEY"): c.SecretKey}
	}
	return pulumi.StringMap{key("ACCESS_KEY_ID"): c.AccessKey, key("SECRET_ACCESS_KEY"): c.SecretKey}
}

func envOf(m map[string]string) corev1.EnvVarArray {
	var out corev1.EnvVarArray
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(m[k])})
	}
	return out
}

// newIntegrity creates the check's Secret and one CronJob per replica.
func newIntegrity(ctx *pulumi.Context, in Integrity, schedule string, gw *Pushgateway, p kube.Placement, opts ...pulumi.ResourceOption) error {
	selector := kube.Labels(IntegrityApp, nil)
	secret := pulumi.StringMap{"CLICKHOUSE_PASSWORD": in.Password}
	if in.Store.BackupKeys() != nil {
		maps.Copy(secret, listerKeys(in.Store))
	}
	if _, err := kube.NewSecret(ctx, IntegrityApp, p.Namespace, selector, secret, opts...); err != nil {
		return err
	}
	// Each step sees only its own secrets: the queries ClickHouse's password, the lister the
	// bucket's keys.
	fromSecret := func(keys ...string) corev1.EnvVarArray {
		var env corev1.EnvVarArray
		for _, k := range keys {
			env = append(env, corev1.EnvVarArgs{Name: pulumi.String(k), ValueFrom: corev1.EnvVarSourceArgs{
				SecretKeyRef: corev1.SecretKeySelectorArgs{Name: pulumi.String(IntegrityApp), Key: pulumi.String(k)}}})
		}
		return env
	}
	var storeKeys []string
	if in.Store.BackupKeys() != nil {
		storeKeys = slices.Sorted(maps.Keys(listerKeys(in.Store)))
	}
	chPassword := fromSecret("CLICKHOUSE_PASSWORD")
	mount := []kube.Mount{{Volume: "work", Path: workDir}}
	cold := in.ColdDisk != ""
	for _, r := range in.Replicas {
		init := []kube.Container{query("query", in, r, "1", cold, chPassword, mount)}
		listerEnv := append(envOf(ListerEnv(in.Store)), corev1.EnvVarArgs{Name: pulumi.String("RCLONE_CACHE_DIR"), Value: pulumi.String(workDir + "/cache")})
		init = append(init, kube.Container{Name: "list", Image: in.Lister, Mounts: mount,
			Env:       append(listerEnv, fromSecret(storeKeys...)...),
			Command:   []string{"sh", "-ec", ListScript(r, in.Store.Buckets.Data, in.Store.Buckets.Backups, cold)},
			Resources: kube.Resources{CPU: "100m", Memory: "256Mi"}})
		if cold {
			init = append(init, query("query-again", in, r, "2", cold, chPassword, mount))
		}
		push := fmt.Sprintf("%s/metrics/job/%s/replica/%s", gw.URL, IntegrityJob, r.Name)
		if _, err := kube.NewCronJob(ctx, "integrity-"+r.Name, schedule, kube.Job{
			Container: kube.Container{Image: in.Pusher, Mounts: mount, Command: []string{"sh", "-ec", ReportScript(push, cold)},
				Resources: kube.Resources{CPU: "50m", Memory: "64Mi"}},
			Init:           init,
			Selector:       selector,
			Volumes:        []kube.Volume{{Name: "work", Scratch: true}},
			ServiceAccount: in.Store.ServiceAccount,
		}, p, opts...); err != nil {
			return err
		}
	}
	return nil
}

// query asks the replica, with ClickHouse's client, for its detached parts (run n 1) and the
// objects its cold disk references (referenced.<n>).
func query(name string, in Integrity, r IntegrityReplica, n string, cold bool, env corev1.EnvVarArray, mount []kube.Mount) kube.Container {
	client := fmt.Sprintf(`clickhouse-client --host %s --user posthog --password "$CLICKHOUSE_PASSWORD"`, r.Host)
	var steps []string
	if n == "1" {
		steps = append(steps, fmt.Sprintf(`%s --query "%s" > %s/detached`, client, DetachedQuery, workDir))
	}
	if cold {
		steps = append(steps, fmt.Sprintf(`%s --query "%s" > %s/referenced.%s`, client, ReferencedQuery(in.ColdDisk), workDir, n))
	}
	return kube.Container{Name: name, Image: in.ClickHouse, Env: env, Mounts: mount,
		Command: []string{"sh", "-ec", strings.Join(steps, "\n")}, Resources: kube.Resources{CPU: "100m", Memory: "256Mi"}}
}

// DetachedQuery counts the parts ClickHouse set aside (broken, unexpected): 22.8 exports no
// metric of them (NumberOfDetachedParts is 22.9's).
const DetachedQuery = "SELECT count() FROM system.detached_parts"

// Pushgateway is where batch jobs leave their metrics for Prometheus.
type Pushgateway struct {
	URL string
}

// PushgatewayApp is its workload; PushgatewayPort its HTTP port.
const (
	PushgatewayApp  = "pushgateway"
	PushgatewayPort = 9091
)

// PushgatewayTarget scrapes it keeping the pushed job and replica labels.
var PushgatewayTarget = Target{Job: PushgatewayApp, App: PushgatewayApp, Port: "http", HonorLabels: true}

func newPushgateway(ctx *pulumi.Context, image config.Image, p kube.Placement, opts ...pulumi.ResourceOption) (*Pushgateway, error) {
	_, err := kube.NewStateless(ctx, kube.Stateless{
		Name:     PushgatewayApp,
		Selector: kube.Labels(PushgatewayApp, nil),
		Min:      1, Max: 1,
		Container: kube.Container{
			Image:     image,
			Ports:     []kube.Port{{Name: "http", Port: PushgatewayPort}},
			Resources: kube.Resources{CPU: "50m", Memory: "64Mi"},
			Readiness: kube.HTTPProbe("/-/ready", "http", 10),
			Liveness:  kube.HTTPProbe("/-/healthy", "http", 30),
		},
	}, p, opts...)
	if err != nil {
		return nil, err
	}
	return &Pushgateway{URL: fmt.Sprintf("http://%s:%d", kube.ServiceHost(PushgatewayApp, p.NamespaceName), PushgatewayPort)}, nil
}
