// Package config loads a stack's configuration once, fills in the safe defaults for its
// environment and validates it, so that bad input fails with a field-named error before any
// resource exists and nothing below the program reads Pulumi config.
package config

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Namespace is the project name under which every key of this program lives in a stack file.
const Namespace = "posthog-deploy"

// Cloud says where a stack runs: on one of the clouds of Registry, or on an existing cluster ("local").
type Cloud string

// The clouds a stack may name in posthog-deploy:cloud.
const (
	Local        Cloud = "local"
	AWS          Cloud = "aws"
	GCP          Cloud = "gcp"
	DigitalOcean Cloud = "digitalocean"
	Azure        Cloud = "azure"
)

// Environment sets the safe minimums a stack is held to.
type Environment string

// The environments a stack may name in posthog-deploy:environment.
const (
	Dev     Environment = "dev"
	Staging Environment = "staging"
	Prod    Environment = "prod"
)

// Environments lists every allowed value of posthog-deploy:environment.
var Environments = []Environment{Dev, Staging, Prod}

// Protected says whether the stateful resources of this environment are protected from
// deletion: a `pulumi destroy` or a rename must never silently lose staging or prod data.
func (e Environment) Protected() bool { return e != Dev }

// Config is a stack's whole configuration, defaults applied and validated.
type Config struct {
	Cloud       Cloud
	Environment Environment
	// Region is where on its cloud the stack runs (a cloud's region or DigitalOcean's datacenter);
	// Zones are the region's zones the cluster and the databases spread over (none on DigitalOcean).
	Region string
	Zones  []string
	// Project is the GCP project the stack deploys into (GCP only).
	Project string
	// Namespace is the Kubernetes namespace every workload is deployed into.
	Namespace   string
	Cluster     Cluster
	ZooKeeper   ZooKeeper
	Kafka       Kafka
	ClickHouse  ClickHouse
	Redis       Redis
	Postgres    Postgres
	PgBouncer   PgBouncer
	ObjectStore ObjectStore
	PostHog     PostHog
	Monitoring  Monitoring
	Secrets     Secrets
}

// Cluster describes the Kubernetes cluster the stack deploys onto: the one a cloud stack creates,
// or the existing one a "local" stack is given.
type Cluster struct {
	// StorageClass for stateful volumes on "local"; empty means the cluster's default class.
	// A cloud stack creates its own (encrypted, zonal, volumes retained).
	StorageClass string `json:"storageClass"`
	// SpreadZones spreads replicas over the nodes' topology.kubernetes.io/zone labels; turn it
	// off only on a cluster whose nodes carry no zone label.
	SpreadZones bool `json:"spreadZones"`
	// AwaitLoadBalancers waits for LoadBalancer Services and Ingresses to get an address.
	// Clusters without a load-balancer controller (the local control plane) never get one.
	AwaitLoadBalancers bool `json:"awaitLoadBalancers"`

	// The rest describes the cluster a cloud stack creates.

	// Version is the Kubernetes minor version, such as "1.31".
	Version string `json:"version"`
	// NetworkCIDR is the cloud network's address range; the subnets are carved from it.
	NetworkCIDR string `json:"networkCidr"`
	// APIAllowedCIDRs are the networks that may reach the cluster's API endpoint. Staging and
	// prod must name them (an office, a VPN, CI runners): never the whole internet.
	APIAllowedCIDRs []string `json:"apiAllowedCidrs"`
	// Admins are the principals besides the one that created the cluster that get cluster-admin
	// on it (CI, teammates), where the cloud's access control needs the stack to say so (AWS:
	// IAM role or user ARNs, through EKS access entries).
	Admins []string `json:"admins"`
	// General runs everything but ClickHouse; ClickHouse's replicas run on their own pool,
	// one node per replica.
	General    NodePool `json:"general"`
	ClickHouse NodePool `json:"clickhouse"`
}

// NodePool is an autoscaled group of one machine type.
type NodePool struct {
	// MachineType is the cloud's size name (m6i.xlarge, e2-standard-4, s-4vcpu-8gb, Standard_D4s_v5).
	MachineType string `json:"machineType"`
	Min         int    `json:"min"`
	Max         int    `json:"max"`
}

// ZooKeeper is the coordination ensemble used by ClickHouse replication and Kafka.
type ZooKeeper struct {
	Replicas int    `json:"replicas"`
	Image    Image  `json:"image"`
	Storage  string `json:"storage"`
	// PurgeIntervalHours is autopurge.purgeInterval: never 0, or snapshots fill the disk.
	PurgeIntervalHours int `json:"purgeIntervalHours"`
	// SnapRetainCount is autopurge.snapRetainCount: at least 3 snapshots are kept.
	SnapRetainCount int `json:"snapRetainCount"`
}

// Kafka is the event log between capture, the plugin server and ClickHouse.
type Kafka struct {
	Brokers int   `json:"brokers"`
	Image   Image `json:"image"`
	// Storage is each broker's volume; retention.bytes is derived from it.
	Storage string `json:"storage"`
	// Partitions of every PostHog topic.
	Partitions        int `json:"partitions"`
	ReplicationFactor int `json:"replicationFactor"`
	MinInsyncReplicas int `json:"minInsyncReplicas"`
	// RetentionHours is the time limit beside the size limit derived from Storage.
	RetentionHours int `json:"retentionHours"`
	// RetentionBytes is every partition's size limit, derived from Storage by validation.
	RetentionBytes int64 `json:"-"`
}

// Redis is PostHog's cache and task queue.
type Redis struct {
	Image Image `json:"image"`
	// Storage is the append-only file's volume.
	Storage string `json:"storage"`
}

// ClickHouse is the sharded, replicated analytics store.
type ClickHouse struct {
	// Cluster is the name of the cluster in remote_servers (PostHog's CLICKHOUSE_CLUSTER).
	Cluster  string `json:"cluster"`
	Shards   int    `json:"shards"`
	Replicas int    `json:"replicas"`
	Image    Image  `json:"image"`
	Storage  string `json:"storage"`
	// AllowExperimental names the allow_experimental_* settings this stack may enable.
	AllowExperimental []string `json:"allowExperimental"`
	Backup            Backup   `json:"backup"`
	// ColdStorage adds an object-storage disk to each replica: parts move there when the local
	// volume is nearly full. Each replica writes its own copy (zero-copy stays off).
	ColdStorage ColdStorage `json:"coldStorage"`
}

// ColdStorage is ClickHouse's optional object-storage tier, in the data bucket.
type ColdStorage struct {
	Enabled bool `json:"enabled"`
	// MoveFactor is the free share of the local volume below which parts move to the bucket.
	MoveFactor float64 `json:"moveFactor"`
}

// Backup is ClickHouse's backup schedule into the versioned backups bucket. It cannot be off.
type Backup struct {
	// Schedule is a cron schedule (UTC) for a full backup of every shard.
	Schedule string `json:"schedule"`
	// Keep is how many backups per shard the bucket keeps.
	Keep int `json:"keep"`
	// Image runs clickhouse-backup beside each replica; ClientImage triggers it.
	Image       Image `json:"image"`
	ClientImage Image `json:"clientImage"`
}

// Postgres is PostHog's PostgreSQL: the cloud's managed database, or on "local" an in-cluster
// stand-in (Image).
type Postgres struct {
	Image Image `json:"image"`
	// ClientImage fetches a cloud's CA bundle for the pods that verify the managed database.
	ClientImage Image  `json:"clientImage"`
	Storage     string `json:"storage"`
	// Version is the managed database's major version: one of the release's ManagedPostgres.
	Version string `json:"version"`
	// InstanceClass is the cloud's database size (db.m6g.large, db-custom-2-7680, db-s-2vcpu-4gb,
	// Standard_D2ds_v5).
	InstanceClass string `json:"instanceClass"`
	// BackupRetentionDays keeps daily backups and point-in-time recovery this long: at least 7
	// days, 14 in prod.
	BackupRetentionDays int `json:"backupRetentionDays"`
	// HighAvailability keeps a standby in another zone; prod cannot turn it off.
	HighAvailability bool `json:"highAvailability"`
}

// PgBouncer pools PostHog's connections to PostgreSQL in transaction mode, as PostHog's own
// chart did, and is the one place that speaks TLS to a cloud's managed database.
type PgBouncer struct {
	Image    Image `json:"image"`
	Replicas int   `json:"replicas"`
	// PoolSize is the server connections each PgBouncer opens to PostgreSQL.
	PoolSize int `json:"poolSize"`
	// MaxClientConnections is the client connections each PgBouncer accepts.
	MaxClientConnections int `json:"maxClientConnections"`
}

// ObjectStore is the buckets: the cloud's object storage, or on "local" an in-cluster
// S3-compatible stand-in (Image, ClientImage, Storage).
type ObjectStore struct {
	Image Image `json:"image"`
	// ClientImage runs the Job that creates the versioned buckets.
	ClientImage Image  `json:"clientImage"`
	Storage     string `json:"storage"`
	// BucketPrefix names a cloud's buckets <prefix>-data and <prefix>-backups (Azure: one storage
	// account named by the prefix without dashes). S3 and GCS names are global: make it yours.
	BucketPrefix string `json:"bucketPrefix"`
	// NoncurrentVersionDays keeps an overwritten or deleted object's old version this long.
	NoncurrentVersionDays int `json:"noncurrentVersionDays"`
}

// Buckets are the names of a cloud stack's buckets.
func (o ObjectStore) Buckets() (data, backups string) {
	return o.BucketPrefix + "-data", o.BucketPrefix + "-backups"
}

// AccountName is the Azure storage account holding the buckets as containers.
func (o ObjectStore) AccountName() string { return strings.ReplaceAll(o.BucketPrefix, "-", "") }

// DatabaseName is a managed database's name where the cloud makes it a public DNS name, unique
// across the cloud (an Azure Flexible Server is <name>.postgres.database.azure.com): the bucket
// prefix, which the stack owner already makes theirs, and "-pg".
func (o ObjectStore) DatabaseName() string { return o.BucketPrefix + "-pg" }

// PostHog holds the application's own settings.
type PostHog struct {
	// Image is the PostHog image of the release (config.Current), with a pinned tag.
	Image Image `json:"image"`
	// Domain is the host name PostHog is served on (the Ingress host and SITE_URL).
	Domain string `json:"domain"`
	// Web serves the app and API; Events (capture) takes in events; Plugins runs ingestion.
	Web     Scale `json:"web"`
	Events  Scale `json:"events"`
	Plugins Scale `json:"plugins"`
	// Workers is the number of Celery workers (one also runs the scheduler).
	Workers int `json:"workers"`
	// TLS is where the domain's certificate comes from: TLSLetsEncrypt (cert-manager, HTTP-01
	// through the ingress controller), TLSSecret (a Secret named TLSSecretName the stack owner
	// creates in the namespace), or TLSNone (the local stack only).
	TLS           string `json:"tls"`
	TLSSecretName string `json:"tlsSecret"`
	// ACMEEmail receives Let's Encrypt's notices; ACMEStaging uses its staging server (untrusted
	// certificates, generous rate limits) to try a stack out.
	ACMEEmail   string `json:"acmeEmail"`
	ACMEStaging bool   `json:"acmeStaging"`
	// AllowedSourceRanges may reach the app (the UI and the API); the capture endpoints stay
	// open to every client, or events would be lost.
	AllowedSourceRanges []string `json:"allowedSourceRanges"`
}

// AppOpenToAll says the allow-list admits every address (a /0 range).
func (p PostHog) AppOpenToAll() bool {
	for _, r := range p.AllowedSourceRanges {
		if strings.HasSuffix(r, "/0") {
			return true
		}
	}
	return false
}

// Where a stack's certificate comes from (PostHog.TLS).
const (
	TLSLetsEncrypt = "letsencrypt"
	TLSSecret      = "secret"
	TLSNone        = "none"
)

// Scale is a stateless workload's replica range; the HPA moves between Min and Max.
type Scale struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Secrets are the stack's secret values, kept as Pulumi secrets from config to the cluster.
type Secrets struct {
	// SecretKey is PostHog's Django SECRET_KEY.
	SecretKey pulumi.StringOutput
	// PostgresPassword is the PostgreSQL password of PostHog's database user.
	PostgresPassword pulumi.StringOutput
	// ClickHousePassword is the password of PostHog's ClickHouse user.
	ClickHousePassword pulumi.StringOutput
	// ObjectStoreSecretKey is the in-cluster object store's secret key (local stack).
	ObjectStoreSecretKey pulumi.StringOutput
}

// SkipServiceVersionCheck says why PostHog's own start-up check of the PostgreSQL, Redis and
// ClickHouse versions is skipped on this stack ("" where it runs): only against a cloud's
// managed PostgreSQL, whose minor release the release row says PostHog's range refuses.
func (c *Config) SkipServiceVersionCheck() string {
	if Facts(c.Cloud).StandIns {
		return ""
	}
	return Current().ManagedPostgres.SkipVersionCheck
}

// SecretKeys lists the secret config keys (without the namespace) a stack may have to set with
// `pulumi config set --secret`, with the shortest value each accepts; each cloud's Secrets says
// which ones it needs. The local stack's driver generates the missing ones on first run.
var SecretKeys = map[string]int{
	"secretKey": 32, "postgresPassword": 16, "clickhousePassword": 16, "objectStoreSecretKey": 16,
}

// Source gives the raw config values of a stack by key (without the namespace). Object values
// are JSON, as Pulumi passes them to programs.
type Source interface {
	Get(key string) (string, bool)
	IsSecret(key string) bool
}

// FieldError is one invalid config value, named by its full key path.
type FieldError struct {
	Key    string
	Value  any
	Detail string
}

func (e FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s:%s: %s", Namespace, e.Key, e.Detail)
	}
	return fmt.Sprintf("%s:%s: invalid value %v: %s", Namespace, e.Key, e.Value, e.Detail)
}

// Errors is every problem found in one stack's config, reported together.
type Errors []FieldError

// check records a FieldError unless ok.
func (es *Errors) check(ok bool, key string, value any, detail string) {
	if !ok {
		*es = append(*es, FieldError{key, value, detail})
	}
}

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return "invalid stack config:\n  " + strings.Join(lines, "\n  ")
}
