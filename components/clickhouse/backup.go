package clickhouse

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// Backups run clickhouse-backup beside every replica (it needs the replica's own files) with its
// API on BackupPort; a CronJob per shard asks the shard's first replica to create a backup and
// upload it to the versioned backups bucket, under <cluster>/shard-<n>.
const (
	BackupApp  = labels.ClickHouseBackup
	BackupPort = 7171
	backupKeys = "clickhouse-backup"
	// objectKeys holds the same keys under the names ClickHouse's own S3 client reads.
	objectKeys = "clickhouse-object-storage"
)

// bucketURL is a bucket's path-style URL: the store's endpoint, or the cloud's S3 endpoint.
func bucketURL(store foundation.ObjectStorage, bucket string) string {
	endpoint := store.Endpoint
	if endpoint == "" {
		endpoint = fmt.Sprintf("https://s3.%s.amazonaws.com", store.Region)
	}
	return strings.TrimSuffix(endpoint, "/") + "/" + bucket + "/"
}

// BackupPath is where a shard's backups live in the bucket; a restore reads the same path.
func BackupPath(t Topology, shard int) string { return fmt.Sprintf("%s/shard-%d", t.Cluster, shard) }

// ObjectDiskPath is where a shard's backups keep copies of the parts on the cold tier: outside
// BackupPath, which clickhouse-backup requires (it refuses an object-disk path that is a prefix
// of, or inside, the backup path).
func ObjectDiskPath(t Topology, shard int) string {
	return fmt.Sprintf("object-disks/%s/shard-%d", t.Cluster, shard)
}

// backupAgent is the sidecar of a replica of shard; cold says the replica has a cold tier on
// object storage, whose parts the backups copy too.
func backupAgent(b config.Backup, store foundation.ObjectStorage, t Topology, shard int, cold bool) kube.Container {
	env := map[string]string{
		"CLICKHOUSE_HOST":        "127.0.0.1",
		"CLICKHOUSE_PORT":        strconv.Itoa(NativePort),
		"BACKUPS_TO_KEEP_REMOTE": strconv.Itoa(b.Keep),
		"BACKUPS_TO_KEEP_LOCAL":  "-1",
		"API_LISTEN":             fmt.Sprintf("0.0.0.0:%d", BackupPort),
		// A scheduled backup before PostHog's first migration has no table to back up.
		"ALLOW_EMPTY_BACKUPS": "true",
	}
	maps.Copy(env, remoteStorage(store, t, shard))
	// The cold tier is on the S3 API; its parts' copies go where the backups go.
	if cold && store.API == config.S3 {
		env[objectDiskPathKey[store.Backup()]] = ObjectDiskPath(t, shard)
		// A restore copies each part from the backups bucket to the data bucket with the disk's
		// own key (pkg/backup/restore.go); where that key cannot read the backups (GCP's HMAC
		// key, DigitalOcean's data key), streaming through the agent, reading as the backups'
		// identity, is the fallback.
		if store.BackupsActApart() {
			env["ALLOW_OBJECT_DISK_STREAMING"] = "true"
		}
	}
	var vars corev1.EnvVarArray
	for _, k := range sortedKeys(env) {
		vars = append(vars, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(env[k])})
	}
	c := kube.Container{
		SharesData: true,
		Name:       "backup",
		Image:      b.Image,
		Command:    []string{"clickhouse-backup", "server"},
		Env:        vars,
		Ports:      []kube.Port{{Name: "backup-api", Port: BackupPort}},
		Resources:  kube.Resources{CPU: "100m", Memory: "512Mi"},
		Readiness:  kube.TCPProbe("backup-api", 15),
		Liveness:   kube.TCPProbe("backup-api", 30),
	}
	if store.BackupKeys() != nil {
		c.EnvFrom = corev1.EnvFromSourceArray{corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(backupKeys)}}}
	}
	// clickhouse-backup reads the cold disk with the AWS_* keys ClickHouse itself uses for it
	// (the disk's config names use_environment_credentials, not keys).
	if cold && store.API == config.S3 && store.Credentials != nil {
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(objectKeys)}})
	}
	return c
}

// objectDiskPathKey is clickhouse-backup's setting of the object-disk path, by remote storage.
var objectDiskPathKey = map[config.ObjectAPI]string{
	config.S3: "S3_OBJECT_DISK_PATH", config.GCS: "GCS_OBJECT_DISK_PATH", config.AzureBlob: "AZBLOB_OBJECT_DISK_PATH",
}

// remoteStorage is clickhouse-backup's settings for the store's backups bucket, in its API.
func remoteStorage(store foundation.ObjectStorage, t Topology, shard int) map[string]string {
	switch store.Backup() {
	case config.AzureBlob:
		env := map[string]string{
			"REMOTE_STORAGE":   "azblob",
			"AZBLOB_CONTAINER": store.Buckets.Backups,
			"AZBLOB_PATH":      BackupPath(t, shard),
		}
		if store.BackupKeys() == nil {
			// The pod's workload identity: azidentity's DefaultAzureCredential (pkg/storage/azblob.go).
			env["AZBLOB_ACCOUNT_NAME"] = store.Account
			env["AZBLOB_USE_MANAGED_IDENTITY"] = "true"
		}
		return env
	case config.GCS:
		// No key: Google's client library finds the pod's workload identity (pkg/storage/gcs.go
		// passes no credentials option when none is configured).
		return map[string]string{
			"REMOTE_STORAGE": "gcs",
			"GCS_BUCKET":     store.Buckets.Backups,
			"GCS_PATH":       BackupPath(t, shard),
		}
	}
	env := map[string]string{
		"REMOTE_STORAGE": "s3",
		"S3_BUCKET":      store.Buckets.Backups,
		"S3_REGION":      store.Region,
		"S3_PATH":        BackupPath(t, shard),
	}
	if store.Endpoint != "" {
		env["S3_ENDPOINT"] = store.Endpoint
		env["S3_FORCE_PATH_STYLE"] = "true"
	}
	return env
}

// agentKeys are the backups' keys under the names clickhouse-backup reads.
func agentKeys(store foundation.ObjectStorage) pulumi.StringMap {
	c := store.BackupKeys()
	if store.Backup() == config.AzureBlob {
		return pulumi.StringMap{"AZBLOB_ACCOUNT_NAME": c.AccessKey, "AZBLOB_ACCOUNT_KEY": c.SecretKey}
	}
	return pulumi.StringMap{"S3_ACCESS_KEY": c.AccessKey, "S3_SECRET_KEY": c.SecretKey}
}

// BackupScript asks a shard's backup API for a backup uploaded to the bucket, and waits for
// the outcome, so that a failed backup fails the Job (and alerts) instead of passing silently.
func BackupScript(api string, shard int) string {
	return strings.Join([]string{
		"set -eu",
		fmt.Sprintf("name=shard-%d-$(date -u +%%Y%%m%%dT%%H%%M%%SZ)", shard),
		fmt.Sprintf(`curl -sSf -X POST "%s/backup/create_remote?name=$name"`, api),
		"while :; do",
		fmt.Sprintf(`  s=$(curl -sSf "%s/backup/status" | grep "create_remote $name" || true)`, api),
		`  case "$s" in *'"status":"success"'*) echo "backup $name uploaded"; exit 0;; *'"status":"error"'*) echo "$s"; exit 1;; esac`,
		"  sleep 15",
		"done",
	}, "\n")
}

// newKeySecrets creates the Secrets of the store's keys (for the backup agent, and for
// ClickHouse's own object disk), which the replicas wait for, and the hash of the keys' ids,
// which the replicas' pods carry so that a new key (a rotation, a key split in two) restarts
// them: a container reads its Secret's values only when it starts.
func newKeySecrets(ctx *pulumi.Context, store foundation.ObjectStorage, p kube.Placement,
	opts ...pulumi.ResourceOption) ([]pulumi.Resource, pulumi.StringOutput, error) {
	var secrets []pulumi.Resource
	var ids []any
	if c := store.BackupKeys(); c != nil {
		s, err := kube.NewSecret(ctx, backupKeys, p.Namespace, kube.Labels(BackupApp, nil), agentKeys(store), opts...)
		if err != nil {
			return nil, pulumi.StringOutput{}, err
		}
		secrets, ids = append(secrets, s), append(ids, c.AccessKey)
	}
	// ClickHouse's own object disk speaks S3 only (config rejects cold storage elsewhere).
	if c := store.Credentials; c != nil && store.API == config.S3 {
		s, err := kube.NewSecret(ctx, objectKeys, p.Namespace, kube.Labels(App, nil), pulumi.StringMap{"AWS_ACCESS_KEY_ID": c.AccessKey, "AWS_SECRET_ACCESS_KEY": c.SecretKey}, opts...)
		if err != nil {
			return nil, pulumi.StringOutput{}, err
		}
		secrets, ids = append(secrets, s), append(ids, c.AccessKey)
	}
	hash := pulumi.All(ids...).ApplyT(func(v []any) string {
		parts := make([]string, len(v))
		for i, id := range v {
			parts[i] = fmt.Sprint(id)
		}
		return kube.Hash(parts...)
	}).(pulumi.StringOutput)
	return secrets, hash, nil
}

// newBackupJobs creates one CronJob per shard.
func newBackupJobs(ctx *pulumi.Context, b config.Backup, t Topology, p kube.Placement, opts ...pulumi.ResourceOption) error {
	for s, shard := range t.Shards {
		api := fmt.Sprintf("http://%s:%d", shard[0].Host, BackupPort)
		name := fmt.Sprintf("clickhouse-backup-shard-%d", s)
		if _, err := kube.NewCronJob(ctx, name, b.Schedule, kube.Job{
			Selector: kube.Labels(BackupApp, map[string]string{ShardLabel: strconv.Itoa(s)}),
			Container: kube.Container{
				Image:     b.ClientImage,
				Command:   []string{"sh", "-c", BackupScript(api, s)},
				Resources: kube.Resources{CPU: "50m", Memory: "64Mi"},
			},
		}, p, opts...); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
