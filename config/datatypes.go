package config

import "slices"

// KubernetesDataTypes are the cluster's resource types whose loss loses data: volumes, the
// namespace that holds the claims, and the stateful sets that own them.
var KubernetesDataTypes = []string{
	"kubernetes:core/v1:PersistentVolumeClaim",
	"kubernetes:core/v1:PersistentVolume",
	"kubernetes:core/v1:Namespace",
	"kubernetes:apps/v1:StatefulSet",
}

// cloudDataTypes are each cloud's resource types whose loss loses data.
var cloudDataTypes = map[Cloud][]string{
	AWS: {"aws:rds/instance:Instance", "aws:rds/cluster:Cluster", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2",
		// It encrypts the database and the cluster's Secrets: deleting it makes both unreadable.
		"aws:kms/key:Key"},
	GCP: {"gcp:sql/databaseInstance:DatabaseInstance", "gcp:sql/database:Database", "gcp:storage/bucket:Bucket"},
	DigitalOcean: {"digitalocean:index/databaseCluster:DatabaseCluster", "digitalocean:index/databaseDb:DatabaseDb",
		"digitalocean:index/spacesBucket:SpacesBucket"},
	Azure: {"azure-native:dbforpostgresql:Server", "azure-native:dbforpostgresql:Database",
		"azure-native:storage:StorageAccount", "azure-native:storage:BlobContainer",
		// Deleting the group deletes everything in it: the database and the storage account.
		"azure-native:resources:ResourceGroup"},
}

// DataTypes are every resource type whose deletion or replacement loses stored data: what the
// data-loss guard stops, what staging and prod protect, what keeps its URN across changes.
func DataTypes() []string {
	out := slices.Clone(KubernetesDataTypes)
	for _, types := range cloudDataTypes {
		out = append(out, types...)
	}
	slices.Sort(out)
	return out
}
