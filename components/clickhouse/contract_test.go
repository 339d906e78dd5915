package clickhouse

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/upstream"
)

// line is the ClickHouse line whose facts are read: the pinned image's major.minor.
func line(t *testing.T) string {
	v := strings.Split(config.VersionOf(config.Current().ClickHouse.Image.Ref), ".")
	if len(v) < 2 {
		t.Fatalf("the pinned ClickHouse %s names no version", config.Current().ClickHouse.Image.Ref)
	}
	return v[0] + "." + v[1]
}

// facts reads a fact file of the pinned ClickHouse line as a set of names.
func facts(t *testing.T, kind string) map[string]bool {
	t.Helper()
	f, err := upstream.Read(fmt.Sprintf("testdata/clickhouse-%s-%s.txt", line(t), kind))
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta["tag"] != line(t) {
		t.Fatalf("%s is read at %s, the release pins ClickHouse %s", f.Path, f.Meta["tag"], line(t))
	}
	return f.Set(0)
}

// elements are the names of the leaf elements directly under the element path in doc.
func elements(doc string, path ...string) []string {
	inner := doc
	for _, p := range path {
		i := strings.Index(inner, "<"+p+">")
		j := strings.LastIndex(inner, "</"+p+">")
		if i < 0 || j < 0 {
			return nil
		}
		inner = inner[i+len(p)+2 : j]
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*<([a-z_0-9]+)>[^<]*</[a-z_0-9]+>`).FindAllStringSubmatch(inner, -1) {
		names = append(names, m[1])
	}
	sort.Strings(names)
	return names
}

// TestSettingNamesExistInThePinnedClickHouse: a profile setting ClickHouse does not know stops
// the server at start ("Unknown setting"), so every name the generated XML uses must be one of
// the pinned line's (distributed_foreground_insert, for one, only arrived in 23.x).
func TestSettingNamesExistInThePinnedClickHouse(t *testing.T) {
	known := facts(t, "settings")
	profile := elements(ProfilesConfig(nil), "profiles", "default")
	if len(profile) < 3 {
		t.Fatalf("found only %v in the default profile", profile)
	}
	for _, name := range append(profile, "readonly") {
		if !known[name] {
			t.Errorf("profiles.xml sets %s, which ClickHouse %s does not know", name, line(t))
		}
	}
	mergeTree := facts(t, "merge-tree-settings")
	names := elements(ServerConfig(NewTopology("posthog", 1, 1, "ph"), []string{"zk"}, 2181), "merge_tree")
	if len(names) < 2 {
		t.Fatalf("found only %v under merge_tree", names)
	}
	for _, name := range names {
		if !mergeTree[name] {
			t.Errorf("config sets merge_tree.%s, which ClickHouse %s does not know", name, line(t))
		}
	}
}

// TestExperimentalSettingsAreThePinnedLines: a stack may allow any of these by name, so each
// must be one the pinned ClickHouse knows, and every one it knows may be allowed.
func TestExperimentalSettingsAreThePinnedLines(t *testing.T) {
	var known []string
	for name := range facts(t, "settings") {
		if strings.HasPrefix(name, "allow_experimental_") {
			known = append(known, name)
		}
	}
	sort.Strings(known)
	got := slices.Sorted(slices.Values(config.Current().Experimental))
	if !slices.Equal(got, known) {
		t.Errorf("the release allows %v, ClickHouse %s knows %v", got, line(t), known)
	}
}

func agentEnv(c kube.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		a := e.(corev1.EnvVarArgs)
		env[fmt.Sprint(a.Name)] = fmt.Sprint(a.Value)
	}
	return env
}

// TestBackupAgentSettingsAreClickHouseBackups: every variable the sidecar gets is one
// clickhouse-backup reads, and it gets what its first backups need.
func TestBackupAgentSettingsAreClickHouseBackups(t *testing.T) {
	b := config.Defaults(config.Local, config.Prod).ClickHouse.Backup
	version := config.VersionOf(b.Image.Ref)
	f, err := upstream.Read(fmt.Sprintf("testdata/clickhouse-backup-%s-env.txt", version))
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta["tag"] != "v"+version {
		t.Fatalf("%s is read at %s, the release pins %s", f.Path, f.Meta["tag"], version)
	}
	known := f.Set(0)
	topo := NewTopology("posthog", 2, 2, "ph")
	s3 := foundation.ObjectStorage{API: config.S3, Endpoint: "http://store:9000", Region: "us-east-1",
		Buckets: foundation.Buckets{Data: "data", Backups: "backups"}}
	blob := foundation.ObjectStorage{API: config.AzureBlob, Buckets: foundation.Buckets{Data: "data", Backups: "backups"}}
	// Azure with workload identity: no key, the account named.
	blobIdentity := foundation.ObjectStorage{API: config.AzureBlob, Account: "acmeposthog", Buckets: foundation.Buckets{Data: "data", Backups: "backups"}}
	// DigitalOcean: a key for the data bucket, another for the backups.
	spaces := s3
	spaces.Credentials, spaces.BackupCredentials = &foundation.Credentials{}, &foundation.Credentials{}
	// GCP: PostHog and the cold tier on the S3 API, the backups on GCS's own API.
	gcs := foundation.ObjectStorage{API: config.S3, BackupAPI: config.GCS, Endpoint: "https://storage.googleapis.com",
		Region: "us-central1", Buckets: foundation.Buckets{Data: "data", Backups: "backups"}}
	for _, tc := range []struct {
		store foundation.ObjectStorage
		cold  bool
	}{{s3, false}, {s3, true}, {blob, false}, {gcs, false}, {gcs, true}, {blobIdentity, false}, {spaces, true}} {
		env := agentEnv(backupAgent(b, tc.store, topo, 1, tc.cold))
		for k := range env {
			if !known[k] {
				t.Errorf("%s: clickhouse-backup %s reads no %s", tc.store.API, version, k)
			}
		}
		// clickhouse-backup v2.6.30 (azblob.go Connect) refuses an account without a key, a SAS or
		// use_managed_identity.
		if tc.store.Backup() == config.AzureBlob && tc.store.BackupKeys() == nil &&
			(env["AZBLOB_USE_MANAGED_IDENTITY"] != "true" || env["AZBLOB_ACCOUNT_NAME"] != tc.store.Account) {
			t.Errorf("azblob through workload identity: %v", env)
		}
		if env["REMOTE_STORAGE"] != string(tc.store.Backup()) {
			t.Errorf("%s: REMOTE_STORAGE %q, want %q", tc.store.Backup(), env["REMOTE_STORAGE"], tc.store.Backup())
		}
		for k := range agentKeys(foundation.ObjectStorage{API: tc.store.API, Credentials: &foundation.Credentials{}}) {
			if !known[k] {
				t.Errorf("%s: the keys' Secret sets %s, which clickhouse-backup does not read", tc.store.API, k)
			}
		}
		// The first scheduled backup may come before PostHog's first migration.
		if env["ALLOW_EMPTY_BACKUPS"] != "true" {
			t.Errorf("%s: without ALLOW_EMPTY_BACKUPS a backup with no tables fails", tc.store.API)
		}
		if env["API_LISTEN"] != fmt.Sprintf("0.0.0.0:%d", BackupPort) {
			t.Errorf("the API listens on %s: the default is localhost only, which the CronJob cannot reach", env["API_LISTEN"])
		}
		if tc.cold {
			if err := validObjectDiskPaths(env); err != nil {
				t.Error(err)
			}
			// The disk's key cannot read the backups where the backups have their own identity:
			// a restore of the cold tier must be able to stream.
			separate := tc.store.BackupAPI != "" || tc.store.BackupCredentials != nil
			if streams := env["ALLOW_OBJECT_DISK_STREAMING"] == "true"; streams != separate {
				t.Errorf("%s: ALLOW_OBJECT_DISK_STREAMING %v, the backups' own identity %v", tc.store.Backup(), streams, separate)
			}
			// clickhouse-backup reads the cold disk (use_environment_credentials) with AWS_* keys.
			withKeys := tc.store
			withKeys.Credentials = &foundation.Credentials{}
			secrets := envSecrets(backupAgent(b, withKeys, topo, 1, true))
			if !slices.Contains(secrets, objectKeys) {
				t.Errorf("the backup agent cannot read the cold disk: no %s Secret", objectKeys)
			}
			// Backups through workload identity get no key for the backups bucket.
			if withKeys.BackupAPI != "" && slices.Contains(secrets, backupKeys) {
				t.Errorf("%s: the backup agent gets the %s Secret although it acts as its workload identity", tc.store.Backup(), backupKeys)
			}
		}
	}
}

// envSecrets are the Secrets a container takes its environment from.
func envSecrets(c kube.Container) []string {
	var out []string
	for _, e := range c.EnvFrom {
		out = append(out, fmt.Sprint(e.(corev1.EnvFromSourceArgs).SecretRef.(corev1.SecretEnvSourceArgs).Name))
	}
	return out
}

// validObjectDiskPaths is clickhouse-backup 2.6.30's check before it backs up a table that has
// parts on an object disk (pkg/config/config.go, ValidateObjectDiskConfig, the same for s3 and
// gcs): the remote storage's object-disk path must be set, and its backup path must be set and
// not start with it.
func validObjectDiskPaths(env map[string]string) error {
	remote := strings.ToUpper(env["REMOTE_STORAGE"])
	if remote == "" {
		remote = "S3"
	}
	objectDisk, path := env[remote+"_OBJECT_DISK_PATH"], env[remote+"_PATH"]
	if (objectDisk == "" && path == "") || (objectDisk != "" && path == "") || (path != "" && strings.HasPrefix(path, objectDisk)) {
		return fmt.Errorf("%s_OBJECT_DISK_PATH %q with %s_PATH %q: clickhouse-backup refuses to back up a table on the cold tier", remote, objectDisk, remote, path)
	}
	return nil
}

func TestObjectDiskCheckRefusesWhatItMust(t *testing.T) {
	for _, env := range []map[string]string{
		{"S3_PATH": "posthog/shard-0"},
		{"S3_PATH": "posthog/shard-0", "S3_OBJECT_DISK_PATH": "posthog"},
		{"S3_OBJECT_DISK_PATH": "object-disks"},
		{"REMOTE_STORAGE": "gcs", "GCS_PATH": "posthog/shard-0", "S3_OBJECT_DISK_PATH": "object-disks"},
	} {
		if validObjectDiskPaths(env) == nil {
			t.Errorf("%v passed the object-disk check", env)
		}
	}
}
