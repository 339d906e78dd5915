package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Managed Kubernetes types, per cloud, and the identities that reach a cloud's APIs.
const (
	EKSCluster    = "aws:eks/cluster:Cluster"
	GKECluster    = "gcp:container/cluster:Cluster"
	GKENodePool   = "gcp:container/nodePool:NodePool"
	AKSCluster    = "azure-native:containerservice:ManagedCluster"
	GCPAccount    = "gcp:serviceaccount/account:Account"
	GCSBucketRole = "gcp:storage/bucketIAMMember:BucketIAMMember"
	GCSHMACKey    = "gcp:storage/hmacKey:HmacKey"
	AWSAccessKey  = "aws:iam/accessKey:AccessKey"
)

func clusterRules() []Rule {
	return []Rule{{
		ID: "PH-CL-001", Name: "clusters-secure-by-default",
		Why: "The cluster holds every credential of the platform: EKS must encrypt Secrets with KMS, GKE and AKS " +
			"must give pods workload identity and RBAC rather than node-wide keys.",
		Fix:      "EKS: encryptionConfig with resources [secrets]. GKE: workloadIdentityConfig.workloadPool. AKS: enableRBAC true.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{EKSCluster, GKECluster, AKSCluster},
		Check: func(_ Context, r Resource) []string {
			p := props(r)
			switch r.Type {
			case EKSCluster:
				resources := at(p, "encryptionConfig", "resources")
				if !resources.IsComputed() && !slices.Contains(arrayStrings(resources), "secrets") {
					return []string{"encryptionConfig does not encrypt secrets with KMS"}
				}
			case GKECluster:
				if v := at(p, "workloadIdentityConfig", "workloadPool"); v.IsNull() {
					return []string{"workloadIdentityConfig.workloadPool is not set: pods would use the node's service account"}
				}
			case AKSCluster:
				if v := at(p, "enableRBAC"); isFalse(v) {
					return []string{"enableRBAC is false"}
				}
			}
			return nil
		},
		Pass: []Fixture{
			{Name: "EKS", Resources: []Resource{res(EKSCluster, "eks", map[string]any{"encryptionConfig": map[string]any{"resources": []any{"secrets"}, "provider": map[string]any{"keyArn": unknown}}})}},
			{Name: "GKE", Resources: []Resource{res(GKECluster, "gke", map[string]any{"workloadIdentityConfig": map[string]any{"workloadPool": "p.svc.id.goog"}})}},
			{Name: "AKS", Resources: []Resource{res(AKSCluster, "aks", map[string]any{"enableRBAC": true})}},
		},
		Fail: []Fixture{
			{Name: "EKS", Resources: []Resource{res(EKSCluster, "eks", map[string]any{})}},
			{Name: "GKE", Resources: []Resource{res(GKECluster, "gke", map[string]any{})}},
			{Name: "AKS", Resources: []Resource{res(AKSCluster, "aks", map[string]any{"enableRBAC": false})}},
		},
	}, {
		ID: "PH-CL-002", Name: "eks-api-not-open-to-the-world",
		Why:      "In prod an EKS API endpoint reachable from 0.0.0.0/0 is one leaked token away from the whole platform.",
		Fix:      "Set vpcConfig.endpointPublicAccess false (with endpointPrivateAccess true), or publicAccessCidrs to your networks.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{EKSCluster},
		Check: func(ctx Context, r Resource) []string {
			if ctx.Environment == "dev" || ctx.Environment == "staging" {
				return nil
			}
			vpc := at(props(r), "vpcConfig")
			public := at(vpc, "endpointPublicAccess")
			if isFalse(public) || public.IsComputed() {
				return nil
			}
			cidrs := at(vpc, "publicAccessCidrs")
			if cidrs.IsComputed() {
				return nil
			}
			if list := arrayStrings(cidrs); len(list) == 0 || slices.Contains(list, "0.0.0.0/0") {
				return []string{"the API endpoint is public to 0.0.0.0/0 in prod"}
			}
			return nil
		},
		Pass: []Fixture{{Name: "private", Context: Context{Environment: "prod"}, Resources: []Resource{res(EKSCluster, "eks", map[string]any{"vpcConfig": map[string]any{"endpointPublicAccess": false}})}},
			{Name: "restricted", Context: Context{Environment: "prod"}, Resources: []Resource{res(EKSCluster, "eks", map[string]any{"vpcConfig": map[string]any{"publicAccessCidrs": []any{"203.0.113.0/24"}}})}}},
		Fail: []Fixture{{Name: "default public", Context: Context{Environment: "prod"}, Resources: []Resource{res(EKSCluster, "eks", map[string]any{"vpcConfig": map[string]any{}})}}},
	}, {
		ID: "PH-CL-003", Name: "gke-nodes-not-default-service-account",
		Why: "Without a service account of their own, GKE nodes run as the Compute Engine default account, which " +
			"holds Editor on the project: any pod that reaches the metadata server, or a compromised node, acts as it.",
		Fix: "Give nodeConfig.serviceAccount of every node pool (and of the cluster, for its initial pool) a " +
			"dedicated account with roles/container.defaultNodeServiceAccount only.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{GKECluster, GKENodePool},
		Check: func(_ Context, r Resource) []string {
			sa := at(props(r), "nodeConfig", "serviceAccount")
			if sa.IsComputed() {
				return nil
			}
			if name, _ := str(sa); name == "" || name == "default" || strings.HasSuffix(name, "-compute@developer.gserviceaccount.com") {
				return []string{"nodes run as the Compute Engine default service account: set nodeConfig.serviceAccount"}
			}
			return nil
		},
		Pass: []Fixture{
			{Name: "dedicated", Resources: []Resource{res(GKENodePool, "general", map[string]any{"nodeConfig": map[string]any{"serviceAccount": "ph-nodes@p.iam.gserviceaccount.com"}})}},
			{Name: "account made in the same change", Resources: []Resource{res(GKENodePool, "general", map[string]any{"nodeConfig": map[string]any{"serviceAccount": unknown}})}},
		},
		Fail: []Fixture{
			{Name: "unset", Resources: []Resource{res(GKENodePool, "general", map[string]any{"nodeConfig": map[string]any{"machineType": "e2-standard-4"}})}},
			{Name: "Compute Engine default", Resources: []Resource{res(GKENodePool, "general", map[string]any{"nodeConfig": map[string]any{"serviceAccount": "123-compute@developer.gserviceaccount.com"}})}},
			{Name: "cluster's initial pool", Resources: []Resource{res(GKECluster, "gke", map[string]any{"workloadIdentityConfig": map[string]any{"workloadPool": "p.svc.id.goog"}})}},
		},
	}, {
		ID: "PH-CL-004", Name: "no-static-key-where-workload-identity-exists",
		Why: "A static key outlives the pod that used it and works from anywhere it leaks to; workload identity " +
			"gives short-lived tokens to one Kubernetes service account. On AWS and Azure every bucket user has " +
			"workload identity (an Azure account key can do anything in the account); on GCP " +
			"the S3 API (PostHog, ClickHouse's cold tier) needs an HMAC key, so that key must not reach the " +
			"backups bucket, which the backups reach through Workload Identity.",
		Fix: "AWS: no IAM access keys, use IRSA roles. GCP: grant the HMAC key's account nothing on the backups " +
			"bucket; clickhouse-backup uses REMOTE_STORAGE=gcs as its workload identity. Azure: allowSharedKeyAccess " +
			"false on the storage account; clickhouse-backup uses AZBLOB_USE_MANAGED_IDENTITY as its workload identity.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory,
		Types: []string{AWSAccessKey, GCSHMACKey, GCPAccount, GCSBucketRole, GCSBucket, StatefulSet, AzureStorageAccount},
		CheckStack: func(_ Context, rs []Resource) []Violation {
			var out []Violation
			backups := map[string]bool{}
			for _, r := range rs {
				if replica, _ := clickHouseReplica(r); replica {
					if b, known := backupBucket(r); known && b != "" {
						backups[b] = true
					}
				}
			}
			for _, key := range rs {
				switch key.Type {
				case AWSAccessKey:
					out = append(out, Violation{URN: key.URN, Message: "an IAM access key: pods reach AWS through IRSA roles"})
				case AzureStorageAccount:
					if v := at(props(key), "allowSharedKeyAccess"); !v.IsComputed() && !isFalse(v) {
						out = append(out, Violation{URN: key.URN, Message: "the storage account accepts its keys (allowSharedKeyAccess is not false): pods reach it through workload identity"})
					}
				case GCSHMACKey:
					for _, b := range rs {
						name, _ := str(at(props(b), "name"))
						if b.Type != GCSBucket || !backups[name] {
							continue
						}
						if role, ok := roleOfKeyOn(rs, key, b); ok {
							out = append(out, Violation{URN: key.URN, Message: fmt.Sprintf(
								"the HMAC key's account holds %s on the backups bucket %q", role, name)})
						}
					}
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "key for the data bucket only", Resources: gcsIdentities("ph-data")},
			{Name: "Azure keys off", Resources: []Resource{res(AzureStorageAccount, "acct", map[string]any{"allowSharedKeyAccess": false})}}},
		Fail: []Fixture{
			{Name: "key reaches the backups bucket", Resources: gcsIdentities("ph-backups")},
			{Name: "AWS access key", Resources: []Resource{res(AWSAccessKey, "ci", map[string]any{"user": "ci"})}},
			{Name: "Azure account keys on", Resources: []Resource{res(AzureStorageAccount, "acct", map[string]any{"allowBlobPublicAccess": false})}},
		},
	}, {
		ID: "PH-CL-005", Name: "aks-entra-id-only",
		Why: "With local accounts on, AKS issues a cluster-admin client certificate to anyone allowed " +
			"listClusterAdminCredential, and it cannot be revoked short of rotating the cluster's certificates; a " +
			"stack that stores it holds a permanent admin key.",
		Fix: "Set disableLocalAccounts true and aadProfile.managed true with the admins' Entra ID groups " +
			"(posthog-deploy:cluster.admins); reach the cluster with kubelogin.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{AKSCluster},
		Check: func(_ Context, r Resource) []string {
			var out []string
			if v := at(props(r), "disableLocalAccounts"); !v.IsComputed() && !isTrue(v) {
				out = append(out, "local accounts are on: disableLocalAccounts is not true")
			}
			if v := at(props(r), "aadProfile", "managed"); !v.IsComputed() && !isTrue(v) {
				out = append(out, "no managed Microsoft Entra ID profile: aadProfile.managed is not true")
			}
			return out
		},
		Pass: []Fixture{{Name: "Entra ID only", Resources: []Resource{res(AKSCluster, "aks", map[string]any{"enableRBAC": true,
			"disableLocalAccounts": true, "aadProfile": map[string]any{"managed": true, "adminGroupObjectIDs": []any{"g"}}})}}},
		Fail: []Fixture{
			{Name: "local accounts", Resources: []Resource{res(AKSCluster, "aks", map[string]any{"enableRBAC": true,
				"aadProfile": map[string]any{"managed": true}})}},
			{Name: "no Entra ID", Resources: []Resource{res(AKSCluster, "aks", map[string]any{"enableRBAC": true, "disableLocalAccounts": true})}},
		},
	}}
}

// arrayStrings are the known strings of an array value.
func arrayStrings(v property.Value) []string {
	var out []string
	if v.IsArray() {
		for _, e := range v.AsArray().All {
			if s, ok := str(e); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// roleOfKeyOn is the role an HMAC key's account holds on bucket, by the accounts and buckets its
// inputs come from (emails and names are not known before they exist), or by known values.
func roleOfKeyOn(rs []Resource, key, bucket Resource) (string, bool) {
	email, _ := str(at(props(key), "serviceAccountEmail"))
	bucketName, _ := str(at(props(bucket), "name"))
	for _, m := range rs {
		if m.Type != GCSBucketRole {
			continue
		}
		b, _ := str(at(props(m), "bucket"))
		onBucket := slices.Contains(m.PropertyDependencies["bucket"], bucket.URN) || bucketName != "" && b == bucketName
		member, _ := str(at(props(m), "member"))
		sameAccount := email != "" && member == "serviceAccount:"+email
		for _, u := range key.PropertyDependencies["serviceAccountEmail"] {
			sameAccount = sameAccount || slices.Contains(m.PropertyDependencies["member"], u)
		}
		if onBucket && sameAccount {
			role, _ := str(at(props(m), "role"))
			return role, true
		}
	}
	return "", false
}

// gcsIdentities is a GCP stack's buckets and accounts in a fixture: backups through Workload
// Identity, and an HMAC key whose account holds objectUser on keyBucket.
func gcsIdentities(keyBucket string) []Resource {
	objects := res(GCPAccount, "objects", map[string]any{"accountId": "ph-objects"})
	key := res(GCSHMACKey, "objects", map[string]any{"serviceAccountEmail": unknown})
	key.PropertyDependencies = map[string][]string{"serviceAccountEmail": {objects.URN}}
	data := res(GCSBucket, "ph-data", map[string]any{"name": "ph-data", "versioning": map[string]any{"enabled": true}})
	backups := res(GCSBucket, "ph-backups", map[string]any{"name": "ph-backups", "versioning": map[string]any{"enabled": true}})
	role := res(GCSBucketRole, "objects", map[string]any{"bucket": unknown, "member": unknown, "role": "roles/storage.objectUser"})
	role.PropertyDependencies = map[string][]string{"member": {objects.URN}, "bucket": {map[string]string{"ph-data": data.URN, "ph-backups": backups.URN}[keyBucket]}}
	return []Resource{chBackedUpTo("GCS_BUCKET", "0", "ph-backups"), objects, key, data, backups, role}
}
