package monitoring

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/upstream"
)

// TestListerSettingsAreRclones: every RCLONE_CONFIG_ variable the lister gets, on every kind of
// store, names an option of its remote's type in the rclone the lister image pins, and a store
// reached through workload identity gives the lister no key, only env_auth.
func TestListerSettingsAreRclones(t *testing.T) {
	version := config.VersionOf(config.Current().Lister.Image.Ref)
	f, err := upstream.Read("testdata/rclone-" + version + "-options.txt")
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta["tag"] != "v"+version {
		t.Fatalf("%s is read at %s, the release pins rclone %s", f.Path, f.Meta["tag"], version)
	}
	options := map[string]map[string]bool{}
	for _, row := range f.Rows {
		options[row[0]] = map[string]bool{}
		for _, o := range row[1:] {
			options[row[0]][strings.ToUpper(o)] = true
		}
	}
	keys := &foundation.Credentials{AccessKey: pulumi.String("k").ToStringOutput(), SecretKey: pulumi.String("s").ToStringOutput()}
	for _, tc := range []struct {
		name     string
		store    foundation.ObjectStorage
		identity bool
	}{
		{"s3 with keys", foundation.ObjectStorage{API: config.S3, Endpoint: "https://nyc3.digitaloceanspaces.com", Credentials: keys}, false},
		{"s3 through IRSA", foundation.ObjectStorage{API: config.S3, Endpoint: "https://s3.us-east-1.amazonaws.com"}, true},
		{"azure blob with keys", foundation.ObjectStorage{API: config.AzureBlob, Credentials: keys}, false},
		{"azure blob through workload identity", foundation.ObjectStorage{API: config.AzureBlob, Account: "acmeposthog"}, true},
		{"gcs through workload identity, keys for S3", foundation.ObjectStorage{API: config.S3, BackupAPI: config.GCS, Credentials: keys}, true},
	} {
		prefix := "RCLONE_CONFIG_" + strings.ToUpper(remote) + "_"
		env := ListerEnv(tc.store)
		typ := env[prefix+"TYPE"]
		known, ok := options[typ]
		if !ok {
			t.Errorf("%s: rclone %s has no remote type %q", tc.name, version, typ)
			continue
		}
		names := slices.Collect(maps.Keys(env))
		if tc.store.BackupKeys() != nil {
			names = append(names, slices.Collect(maps.Keys(listerKeys(tc.store)))...)
		}
		for _, k := range names {
			if !strings.HasPrefix(k, prefix) || !known[strings.TrimPrefix(k, prefix)] {
				t.Errorf("%s: %s is no option of rclone %s's %q remote", tc.name, k, version, typ)
			}
		}
		if identity := env[prefix+"ENV_AUTH"] == "true"; identity != tc.identity {
			t.Errorf("%s: env_auth %v, want %v (the pod's workload identity)", tc.name, identity, tc.identity)
		}
	}
}
