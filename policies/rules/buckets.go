package rules

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Object-storage types, per cloud. On AWS and Azure a bucket's settings are separate resources
// that name the bucket (or storage account) in one input.
const (
	S3Bucket             = "aws:s3/bucketV2:BucketV2"
	S3Versioning         = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	S3PublicAccessBlock  = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	S3Encryption         = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	GCSBucket            = "gcp:storage/bucket:Bucket"
	SpacesBucket         = "digitalocean:index/spacesBucket:SpacesBucket"
	AzureStorageAccount  = "azure-native:storage:StorageAccount"
	AzureBlobServiceProp = "azure-native:storage:BlobServiceProperties"
	AzureBlobContainer   = "azure-native:storage:BlobContainer"
)

// settingFor finds the resource of type typ whose input key names owner: by property dependency
// (an owner created in the same change has no known name yet) or by the owner's known name.
func settingFor(rs []Resource, typ, key string, owner Resource, ownerNameKey string) (Resource, bool) {
	name, _ := str(at(props(owner), ownerNameKey))
	for _, r := range rs {
		if r.Type != typ {
			continue
		}
		if slices.Contains(r.PropertyDependencies[key], owner.URN) {
			return r, true
		}
		if v, ok := str(at(props(r), key)); ok && name != "" && v == name {
			return r, true
		}
	}
	return Resource{}, false
}

func bucketRules() []Rule {
	return []Rule{bucketSettingRule(), {
		ID: "PH-BK-001", Name: "buckets-versioned",
		Why: "Without versioning, an overwritten or deleted object is gone: a bad backup run, a bug or zero-copy " +
			"replication's garbage collection removes the only copy. Nothing checked this before PostHog lost a region's data.",
		Fix: "S3: a BucketVersioningV2 with versioningConfiguration.status Enabled for the bucket. GCS and Spaces: " +
			"versioning.enabled true. Azure: a BlobServiceProperties with isVersioningEnabled true for the account.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory,
		Types: []string{S3Bucket, S3Versioning, GCSBucket, SpacesBucket, AzureStorageAccount, AzureBlobServiceProp},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			var out []Violation
			for _, r := range rs {
				bad := ""
				switch r.Type {
				case S3Bucket:
					v, ok := settingFor(rs, S3Versioning, "bucket", r, "bucket")
					status := at(props(v), "versioningConfiguration", "status")
					if s, _ := str(status); !ok || (s != "Enabled" && !status.IsComputed()) {
						bad = "has no BucketVersioningV2 with status Enabled"
					}
				case GCSBucket, SpacesBucket:
					if v := at(props(r), "versioning", "enabled"); !v.IsComputed() && !isTrue(v) {
						bad = "has versioning.enabled not true"
					}
				case AzureStorageAccount:
					v, ok := settingFor(rs, AzureBlobServiceProp, "accountName", r, "accountName")
					if e := at(props(v), "isVersioningEnabled"); !ok || (!isTrue(e) && !e.IsComputed()) {
						bad = "has no BlobServiceProperties with isVersioningEnabled true"
					}
				}
				if bad != "" {
					out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("%s %s %s", r.Type, r.Name, bad)})
				}
			}
			return out
		},
		Pass: []Fixture{
			{Name: "S3 linked by dependency", Resources: []Resource{s3Bucket("data"), s3Setting(S3Versioning, "data",
				map[string]any{"bucket": unknown, "versioningConfiguration": map[string]any{"status": "Enabled"}})}},
			{Name: "GCS", Resources: []Resource{res(GCSBucket, "b", map[string]any{"versioning": map[string]any{"enabled": true}})}},
			{Name: "Azure", Resources: []Resource{res(AzureStorageAccount, "acct", map[string]any{"accountName": "phdata"}),
				res(AzureBlobServiceProp, "blob", map[string]any{"accountName": "phdata", "isVersioningEnabled": true})}},
		},
		Fail: []Fixture{
			{Name: "S3 without versioning", Resources: []Resource{s3Bucket("data")}},
			{Name: "S3 suspended", Resources: []Resource{s3Bucket("data"), s3Setting(S3Versioning, "data",
				map[string]any{"bucket": unknown, "versioningConfiguration": map[string]any{"status": "Suspended"}})}},
			{Name: "Spaces", Resources: []Resource{res(SpacesBucket, "b", map[string]any{"acl": "private"})}},
			{Name: "Azure", Resources: []Resource{res(AzureStorageAccount, "acct", map[string]any{"accountName": "phdata"})}},
		},
	}, {
		ID: "PH-BK-002", Name: "buckets-private-and-encrypted",
		Why:      "Session recordings, exports and ClickHouse backups hold users' data: a public bucket, or one without encryption at rest, leaks all of it.",
		Fix:      "S3: a BucketPublicAccessBlock with all four settings true and a BucketServerSideEncryptionConfigurationV2. GCS: uniformBucketLevelAccess true and publicAccessPrevention enforced. Spaces: acl private. Azure: allowBlobPublicAccess false, minimumTlsVersion TLS1_2, enableHttpsTrafficOnly true.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory,
		Types: []string{S3Bucket, S3PublicAccessBlock, S3Encryption, GCSBucket, SpacesBucket, AzureStorageAccount},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			var out []Violation
			add := func(r Resource, msg string) {
				out = append(out, Violation{URN: r.URN, Message: fmt.Sprintf("%s %s %s", r.Type, r.Name, msg)})
			}
			for _, r := range rs {
				p := props(r)
				switch r.Type {
				case S3Bucket:
					block, ok := settingFor(rs, S3PublicAccessBlock, "bucket", r, "bucket")
					for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
						if v := at(props(block), k); !ok || (!isTrue(v) && !v.IsComputed()) {
							add(r, "does not block public access ("+k+")")
							break
						}
					}
					if _, ok := settingFor(rs, S3Encryption, "bucket", r, "bucket"); !ok {
						add(r, "has no server-side encryption configuration")
					}
				case GCSBucket:
					if v := at(p, "uniformBucketLevelAccess"); !isTrue(v) && !v.IsComputed() {
						add(r, "has uniformBucketLevelAccess not true")
					}
					if v, ok := str(at(p, "publicAccessPrevention")); !ok && !at(p, "publicAccessPrevention").IsComputed() || ok && v != "enforced" {
						add(r, "has publicAccessPrevention not enforced")
					}
				case SpacesBucket:
					if v, ok := str(at(p, "acl")); ok && v != "private" {
						add(r, "has acl "+v)
					}
				case AzureStorageAccount:
					if v := at(p, "allowBlobPublicAccess"); !isFalse(v) && !v.IsComputed() {
						add(r, "allows public blob access")
					}
					if v, ok := str(at(p, "minimumTlsVersion")); !ok && !at(p, "minimumTlsVersion").IsComputed() || ok && v != "TLS1_2" {
						add(r, "does not require TLS 1.2")
					}
					if isFalse(at(p, "enableHttpsTrafficOnly")) {
						add(r, "allows plain HTTP")
					}
				}
			}
			return out
		},
		Pass: []Fixture{
			{Name: "S3 blocked and encrypted", Resources: []Resource{s3Bucket("data"),
				s3Setting(S3PublicAccessBlock, "data", map[string]any{"bucket": unknown, "blockPublicAcls": true, "blockPublicPolicy": true,
					"ignorePublicAcls": true, "restrictPublicBuckets": true}),
				s3Setting(S3Encryption, "data", map[string]any{"bucket": unknown})}},
			{Name: "GCS", Resources: []Resource{res(GCSBucket, "b", map[string]any{"uniformBucketLevelAccess": true, "publicAccessPrevention": "enforced"})}},
			{Name: "Azure", Resources: []Resource{res(AzureStorageAccount, "a", map[string]any{"allowBlobPublicAccess": false, "minimumTlsVersion": "TLS1_2"})}},
		},
		Fail: []Fixture{
			{Name: "S3 open", Resources: []Resource{s3Bucket("data"), s3Setting(S3Encryption, "data", map[string]any{"bucket": unknown})}},
			{Name: "GCS inherited", Resources: []Resource{res(GCSBucket, "b", map[string]any{"uniformBucketLevelAccess": true, "publicAccessPrevention": "inherited"})}},
			{Name: "Spaces public", Resources: []Resource{res(SpacesBucket, "b", map[string]any{"acl": "public-read"})}},
			{Name: "Azure public", Resources: []Resource{res(AzureStorageAccount, "a", map[string]any{"allowBlobPublicAccess": true, "minimumTlsVersion": "TLS1_2"})}},
		},
	}}
}

// bucketSettingRule rejects, resource by resource, a bucket setting that is unsafe in itself: the
// stack rules above find what is missing once the stack is whole, but the engine runs them after
// an update; this one runs on each resource before it is created or changed.
func bucketSettingRule() Rule {
	return Rule{
		ID: "PH-BK-003", Name: "bucket-settings-safe",
		Why: "A bucket's versioning suspended, or its public access unblocked, takes effect the moment the setting is " +
			"applied: an overwrite or a deletion from then on is final, or the data is open to the internet.",
		Fix: "Keep S3 versioning Enabled and all four public-access blocks true, GCS and Spaces versioning.enabled true " +
			"and Spaces acl private, Azure isVersioningEnabled true and allowBlobPublicAccess false.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory,
		Types: []string{S3Versioning, S3PublicAccessBlock, GCSBucket, SpacesBucket, AzureBlobServiceProp, AzureStorageAccount},
		Check: func(_ Context, r Resource) []string {
			p := props(r)
			var out []string
			switch r.Type {
			case S3Versioning:
				if status, ok := str(at(p, "versioningConfiguration", "status")); ok && status != "Enabled" {
					out = append(out, fmt.Sprintf("versioningConfiguration.status is %s", status))
				}
			case S3PublicAccessBlock:
				for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
					if isFalse(at(p, k)) {
						out = append(out, k+" is false")
					}
				}
			case GCSBucket, SpacesBucket:
				if isFalse(at(p, "versioning", "enabled")) {
					out = append(out, "versioning.enabled is false")
				}
				if acl, ok := str(at(p, "acl")); ok && r.Type == SpacesBucket && acl != "private" {
					out = append(out, "acl is "+acl)
				}
			case AzureBlobServiceProp:
				if isFalse(at(p, "isVersioningEnabled")) {
					out = append(out, "isVersioningEnabled is false")
				}
			case AzureStorageAccount:
				if isTrue(at(p, "allowBlobPublicAccess")) {
					out = append(out, "allowBlobPublicAccess is true")
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "safe settings", Resources: []Resource{
			res(S3Versioning, "v", map[string]any{"versioningConfiguration": map[string]any{"status": "Enabled"}}),
			res(S3PublicAccessBlock, "b", map[string]any{"blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}),
			res(AzureBlobServiceProp, "blob", map[string]any{"isVersioningEnabled": true}),
			res(SpacesBucket, "s", map[string]any{"acl": "private", "versioning": map[string]any{"enabled": true}}),
		}}, {Name: "not known yet", Resources: []Resource{res(S3Versioning, "v", map[string]any{"versioningConfiguration": unknown})}}},
		Fail: []Fixture{
			{Name: "S3 versioning suspended", Resources: []Resource{res(S3Versioning, "v", map[string]any{"versioningConfiguration": map[string]any{"status": "Suspended"}})}},
			{Name: "S3 public policy allowed", Resources: []Resource{res(S3PublicAccessBlock, "b", map[string]any{"blockPublicPolicy": false})}},
			{Name: "GCS versioning off", Resources: []Resource{res(GCSBucket, "g", map[string]any{"versioning": map[string]any{"enabled": false}})}},
			{Name: "Azure blob versioning off", Resources: []Resource{res(AzureBlobServiceProp, "blob", map[string]any{"isVersioningEnabled": false})}},
			{Name: "Azure public blobs", Resources: []Resource{res(AzureStorageAccount, "a", map[string]any{"allowBlobPublicAccess": true})}},
		},
	}
}

func s3Bucket(name string) Resource {
	return res(S3Bucket, name, map[string]any{"bucket": unknown})
}

// s3Setting is a bucket setting whose bucket input comes from the bucket named owner.
func s3Setting(typ, owner string, props map[string]any) Resource {
	r := res(typ, owner+"-"+typ[len(typ)-12:], props)
	r.PropertyDependencies = map[string][]string{"bucket": {s3Bucket(owner).URN}}
	return r
}
