package rules

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

const backupApp = labels.ClickHouseBackup

// mcVersioning is the local object store's Job switching a bucket's versioning on.
var mcVersioning = regexp.MustCompile(`mc version enable [a-z0-9-]+/([a-z0-9.-]+)`)

// versionedBuckets names the buckets of the stack known to be versioned, on every cloud and on
// the local object store.
func versionedBuckets(rs []Resource) map[string]bool {
	out := map[string]bool{}
	for _, r := range rs {
		p := props(r)
		switch r.Type {
		case S3Bucket:
			v, ok := settingFor(rs, S3Versioning, "bucket", r, "bucket")
			if status, _ := str(at(props(v), "versioningConfiguration", "status")); ok && status == "Enabled" {
				if name, ok := str(at(p, "bucket")); ok {
					out[name] = true
				}
			}
		case GCSBucket, SpacesBucket:
			if name, ok := str(at(p, "name")); ok && isTrue(at(p, "versioning", "enabled")) {
				out[name] = true
			}
		case AzureBlobContainer:
			// A container is versioned when its storage account's blob service is.
			for _, acct := range rs {
				if acct.Type != AzureStorageAccount {
					continue
				}
				if _, linked := settingFor([]Resource{r}, AzureBlobContainer, "accountName", acct, "accountName"); !linked {
					continue
				}
				v, ok := settingFor(rs, AzureBlobServiceProp, "accountName", acct, "accountName")
				if name, known := str(at(p, "containerName")); ok && known && isTrue(at(props(v), "isVersioningEnabled")) {
					out[name] = true
				}
			}
		case Job:
			for _, text := range configTexts(r) {
				for _, m := range mcVersioning.FindAllStringSubmatch(text, -1) {
					out[m[1]] = true
				}
			}
		}
	}
	return out
}

// backupBucket is the bucket a ClickHouse replica's backup agent writes to ("" if none, and
// known false while the name is not known yet).
func backupBucket(r Resource) (bucket string, known bool) {
	for _, c := range containers(r) {
		if env := at(c, "env"); env.IsArray() {
			for _, e := range env.AsArray().All {
				if name, _ := str(at(e, "name")); name == "S3_BUCKET" || name == "AZBLOB_CONTAINER" || name == "GCS_BUCKET" {
					v, ok := str(at(e, "value"))
					return v, ok
				}
			}
		}
	}
	return "", true
}

func backupRules() []Rule {
	return []Rule{{
		ID: "PH-CH-005", Name: "clickhouse-backups-to-versioned-bucket",
		Why: "Replication is not a backup: a DROP or a bad migration replicates too. Every shard needs scheduled " +
			"backups, and the bucket they go to must be versioned, or a bad run or a retention bug deletes the copies.",
		Fix: "Keep posthog-deploy:clickhouse.backup on its schedule (the program backs up every shard with a " +
			"clickhouse-backup sidecar and a CronJob per shard) into the foundation's versioned backups bucket.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory,
		Types: []string{StatefulSet, CronJob, Job, S3Bucket, S3Versioning, GCSBucket, SpacesBucket, AzureStorageAccount, AzureBlobServiceProp, AzureBlobContainer},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			shards := map[string]Resource{}
			scheduled := map[string]bool{}
			var unknown []Violation
			for _, r := range rs {
				switch r.Type {
				case StatefulSet:
					if replica, shard := clickHouseReplica(r); replica && shard == "" {
						unknown = append(unknown, Violation{URN: r.URN, Message: unlabelled(r)})
					} else if replica {
						shards[shard] = r
					}
				case CronJob:
					l := labelMap(at(props(r), "metadata", "labels"))
					if l[labels.App] == backupApp {
						scheduled[l[shardLabel]] = true
					}
				}
			}
			out := unknown
			versioned := versionedBuckets(rs)
			for _, s := range slices.Sorted(maps.Keys(shards)) {
				r := shards[s]
				if !scheduled[s] {
					out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("shard %s has no backup schedule", s)})
				}
				switch bucket, known := backupBucket(r); {
				case known && bucket == "":
					out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("%s has no backup agent with a bucket", r.Name)})
				case known && !versioned[bucket]:
					out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("%s backs up to bucket %q, which is not versioned", r.Name, bucket)})
				}
			}
			return out
		},
		Pass: []Fixture{
			{Name: "local store", Resources: []Resource{chBackedUp("0", "backups"), backupCron("0"), versioningJob("backups")}},
			{Name: "S3", Resources: []Resource{chBackedUp("0", "ph-backups"), backupCron("0"),
				res(S3Bucket, "backups", map[string]any{"bucket": "ph-backups"}),
				s3Setting(S3Versioning, "backups", map[string]any{"bucket": unknown, "versioningConfiguration": map[string]any{"status": "Enabled"}})}},
			{Name: "GCS through workload identity", Resources: []Resource{chBackedUpTo("GCS_BUCKET", "0", "ph-backups"), backupCron("0"),
				res(GCSBucket, "ph-backups", map[string]any{"name": "ph-backups", "versioning": map[string]any{"enabled": true}})}},
		},
		Fail: []Fixture{
			{Name: "no schedule", Resources: []Resource{chBackedUp("0", "backups"), versioningJob("backups")}},
			{Name: "unversioned bucket", Resources: []Resource{chBackedUp("0", "backups"), backupCron("0")}},
			{Name: "no agent", Resources: []Resource{chReplica("0", "0", true), backupCron("0")}},
			{Name: "unversioned GCS bucket", Resources: []Resource{chBackedUpTo("GCS_BUCKET", "0", "ph-backups"), backupCron("0"),
				res(GCSBucket, "ph-backups", map[string]any{"name": "ph-backups"})}},
		},
	}}
}

func chBackedUp(shard, bucket string) Resource { return chBackedUpTo("S3_BUCKET", shard, bucket) }

// chBackedUpTo is a replica whose backup agent names its bucket in setting (S3_BUCKET, GCS_BUCKET, …).
func chBackedUpTo(setting, shard, bucket string) Resource {
	agent := container("altinity/clickhouse-backup:2.6.30", map[string]any{"name": "backup",
		"env": []any{map[string]any{"name": setting, "value": bucket}}})
	return res(StatefulSet, "chi-posthog-"+shard+"-0", map[string]any{"spec": map[string]any{"replicas": 1, "template": map[string]any{
		"metadata": map[string]any{"labels": map[string]string{labels.App: chName, shardLabel: shard}},
		"spec":     map[string]any{"containers": []any{container(config.Current().ClickHouse.Image.Ref, nil), agent}},
	}}})
}

func backupCron(shard string) Resource {
	return res(CronJob, "clickhouse-backup-shard-"+shard, map[string]any{"metadata": map[string]any{
		"labels": map[string]string{labels.App: backupApp, shardLabel: shard}}})
}

func versioningJob(bucket string) Resource {
	return workload(Job, "objectstore-buckets", 0, nil, container("minio/mc:RELEASE.2024-11-21T17-21-54Z",
		map[string]any{"command": []any{"sh", "-ec", "mc mb --ignore-existing store/" + bucket + "\nmc version enable store/" + bucket}}), nil)
}

var (
	objectDisk     = regexp.MustCompile(`<type>\s*(s3|s3_plain|object_storage)\s*</type>`)
	objectEndpoint = regexp.MustCompile(`<endpoint>\s*([^<\s]+)\s*</endpoint>`)
)

// bucketOf is the bucket named by an S3 URL, virtual-hosted (bucket.s3.region.amazonaws.com)
// or path style (host/bucket/prefix).
func bucketOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if i := strings.Index(u.Host, ".s3"); i > 0 {
		return u.Host[:i]
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	return bucket
}

func objectDiskRules() []Rule {
	return []Rule{{
		ID: "PH-CH-006", Name: "clickhouse-object-disk-bucket-versioned",
		Why: "A ClickHouse object-storage disk keeps table parts in a bucket; without versioning a cleanup bug or " +
			"a mistaken lifecycle rule deletes them for good. This is how a region's data was lost.",
		Fix:      "Point object disks only at the foundation's buckets, which are versioned (posthog-deploy:clickhouse.coldStorage uses the data bucket).",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory,
		Types: []string{ConfigMap, Job, S3Bucket, S3Versioning, GCSBucket, SpacesBucket, AzureStorageAccount, AzureBlobServiceProp, AzureBlobContainer},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			versioned := versionedBuckets(rs)
			var out []Violation
			for _, r := range rs {
				if r.Type != ConfigMap {
					continue
				}
				for where, text := range configTexts(r) {
					if !objectDisk.MatchString(text) {
						continue
					}
					for _, m := range objectEndpoint.FindAllStringSubmatch(text, -1) {
						if b := bucketOf(m[1]); !versioned[b] {
							out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf(
								"%s %s: object disk in bucket %q, which is not versioned", r.Name, where, b)})
						}
					}
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "versioned local bucket", Resources: []Resource{coldDisk("http://store:9000/posthog/clickhouse-cold/a/"), versioningJob("posthog")}},
			{Name: "virtual-hosted S3", Resources: []Resource{coldDisk("https://ph-data.s3.eu-west-1.amazonaws.com/cold/"),
				res(S3Bucket, "data", map[string]any{"bucket": "ph-data"}),
				s3Setting(S3Versioning, "data", map[string]any{"bucket": unknown, "versioningConfiguration": map[string]any{"status": "Enabled"}})}}},
		Fail: []Fixture{{Name: "unversioned", Resources: []Resource{coldDisk("http://store:9000/scratch/cold/"), versioningJob("posthog")}}},
	}}
}

func coldDisk(endpoint string) Resource {
	return configMap("chi-posthog-0-0", "replica.xml",
		"<clickhouse><storage_configuration><disks><cold><type>s3</type><endpoint>"+endpoint+"</endpoint></cold></disks></storage_configuration></clickhouse>")
}
