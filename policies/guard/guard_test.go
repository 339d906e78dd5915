package guard

import (
	"strings"
	"testing"
)

const preview = `{
  "steps": [
    {"op": "same", "urn": "urn:pulumi:prod::posthog-deploy::kubernetes:apps/v1:StatefulSet::zookeeper"},
    {"op": "update", "urn": "urn:pulumi:prod::posthog-deploy::kubernetes:apps/v1:Deployment::posthog-web", "newState": {"type": "kubernetes:apps/v1:Deployment"}},
    {"op": "replace", "urn": "urn:pulumi:prod::posthog-deploy::posthog-deploy:data:ClickHouse$kubernetes:apps/v1:StatefulSet::chi-posthog-0-0", "oldState": {"type": "kubernetes:apps/v1:StatefulSet"}},
    {"op": "delete", "urn": "urn:pulumi:prod::posthog-deploy::aws:rds/instance:Instance::postgres", "oldState": {"type": "aws:rds/instance:Instance"}},
    {"op": "delete", "urn": "urn:pulumi:prod::posthog-deploy::kubernetes:core/v1:ConfigMap::old-settings", "oldState": {"type": "kubernetes:core/v1:ConfigMap"}},
    {"op": "create-replacement", "urn": "urn:pulumi:prod::posthog-deploy::gcp:storage/bucket:Bucket::backups"},
    {"op": "delete-replaced", "urn": "urn:pulumi:prod::posthog-deploy::gcp:storage/bucket:Bucket::backups"},
    {"op": "delete", "urn": "urn:pulumi:prod::posthog-deploy::aws:kms/key:Key::posthog-prod", "oldState": {"type": "aws:kms/key:Key"}},
    {"op": "replace", "urn": "urn:pulumi:prod::posthog-deploy::azure-native:resources:ResourceGroup::posthog-prod", "oldState": {"type": "azure-native:resources:ResourceGroup"}}
  ]
}`

func TestFindsDataLoss(t *testing.T) {
	steps, err := FromPreviewJSON(strings.NewReader(preview))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Check(steps, nil) {
		got = append(got, f.String())
	}
	want := []string{
		"kubernetes:apps/v1:StatefulSet would be replaced (its data deleted): urn:pulumi:prod::posthog-deploy::posthog-deploy:data:ClickHouse$kubernetes:apps/v1:StatefulSet::chi-posthog-0-0",
		"aws:rds/instance:Instance would be deleted: urn:pulumi:prod::posthog-deploy::aws:rds/instance:Instance::postgres",
		"gcp:storage/bucket:Bucket would be replaced (its data deleted): urn:pulumi:prod::posthog-deploy::gcp:storage/bucket:Bucket::backups",
		// The key that encrypts the database, and the group that holds the database and the buckets.
		"aws:kms/key:Key would be deleted: urn:pulumi:prod::posthog-deploy::aws:kms/key:Key::posthog-prod",
		"azure-native:resources:ResourceGroup would be replaced (its data deleted): urn:pulumi:prod::posthog-deploy::azure-native:resources:ResourceGroup::posthog-prod",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAllowList(t *testing.T) {
	steps, err := FromPreviewJSON(strings.NewReader(preview))
	if err != nil {
		t.Fatal(err)
	}
	got := Check(steps, []string{"postgres", "urn:pulumi:prod::posthog-deploy::gcp:storage/bucket:Bucket::*", "chi-posthog-0-0", "posthog-prod"})
	if len(got) != 0 {
		t.Errorf("allowed resources still reported: %v", got)
	}
}

func TestBadJSON(t *testing.T) {
	if _, err := FromPreviewJSON(strings.NewReader("Previewing update (prod):")); err == nil {
		t.Error("text output accepted as the preview's JSON")
	}
}
