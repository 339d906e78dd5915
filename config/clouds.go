package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// site is what a cloud offers a stack: its regions (each with the zones a stack spreads over)
// and the sizes its defaults pick for dev and for staging/prod.
type site struct {
	regions                   map[string][]string
	general, clickhouse, sql  [2]string
	nodes                     func(region string, zones []string) []string
	defaultRegion, whereToSee string
}

// letters are zone suffixes: a region's zones are named region+suffix on AWS and region-suffix on GCP.
func letters(sep string) func(string, []string) []string {
	return func(region string, suffixes []string) []string {
		out := make([]string, len(suffixes))
		for i, s := range suffixes {
			out[i] = region + sep + s
		}
		return out
	}
}

var abc = []string{"a", "b", "c"}

// sites are the regions this project deploys to: those with three zones (DigitalOcean's
// datacenters have none), so that a zone outage leaves a quorum.
var sites = map[Cloud]site{
	AWS: {
		regions: map[string][]string{"us-east-1": abc, "us-east-2": abc, "us-west-2": abc, "ca-central-1": {"a", "b", "d"},
			"eu-west-1": abc, "eu-west-2": abc, "eu-central-1": abc, "eu-north-1": abc,
			"ap-southeast-1": abc, "ap-southeast-2": abc, "ap-northeast-1": {"a", "c", "d"}, "sa-east-1": abc},
		general: [2]string{"m6i.large", "m6i.xlarge"}, clickhouse: [2]string{"r6i.large", "r6i.2xlarge"},
		sql:   [2]string{"db.t4g.medium", "db.m6g.large"},
		nodes: letters(""), defaultRegion: "us-east-1", whereToSee: "aws ec2 describe-availability-zones",
	},
	GCP: {
		regions: map[string][]string{"us-central1": {"a", "b", "c"}, "us-east1": {"b", "c", "d"}, "us-east4": abc,
			"us-west1": abc, "europe-west1": {"b", "c", "d"}, "europe-west2": abc, "europe-west3": abc,
			"europe-west4": abc, "asia-southeast1": abc, "asia-northeast1": abc, "australia-southeast1": abc},
		general: [2]string{"e2-standard-2", "e2-standard-4"}, clickhouse: [2]string{"n2-highmem-2", "n2-highmem-8"},
		sql:   [2]string{"db-custom-1-3840", "db-custom-2-7680"},
		nodes: letters("-"), defaultRegion: "us-central1", whereToSee: "gcloud compute zones list",
	},
	DigitalOcean: {
		regions: map[string][]string{"nyc3": nil, "sfo3": nil, "tor1": nil, "ams3": nil, "fra1": nil,
			"lon1": nil, "sgp1": nil, "blr1": nil, "syd1": nil},
		general: [2]string{"s-2vcpu-4gb", "s-4vcpu-8gb"}, clickhouse: [2]string{"m-2vcpu-16gb", "m-4vcpu-32gb"},
		sql:   [2]string{"db-s-1vcpu-2gb", "db-s-2vcpu-4gb"},
		nodes: func(string, []string) []string { return nil }, defaultRegion: "nyc3", whereToSee: "doctl kubernetes options regions",
	},
	Azure: {
		regions: map[string][]string{"eastus": nil, "eastus2": nil, "westus2": nil, "westus3": nil, "centralus": nil,
			"northeurope": nil, "westeurope": nil, "uksouth": nil, "germanywestcentral": nil, "francecentral": nil,
			"swedencentral": nil, "southeastasia": nil, "australiaeast": nil, "japaneast": nil},
		general: [2]string{"Standard_D2s_v5", "Standard_D4s_v5"}, clickhouse: [2]string{"Standard_E2s_v5", "Standard_E8s_v5"},
		sql: [2]string{"Standard_B2s", "Standard_D2ds_v5"},
		// Azure numbers the zones of every zonal region 1, 2 and 3.
		nodes:         func(string, []string) []string { return []string{"1", "2", "3"} },
		defaultRegion: "eastus", whereToSee: "az account list-locations",
	},
}

// cloudDefaults fills the cluster, database and bucket defaults of a cloud stack.
func cloudDefaults(c *Config) {
	s, ok := sites[c.Cloud]
	if !ok {
		return
	}
	ha := c.Environment != Dev
	i := choose(ha, 0, 1)
	c.Cluster.Version = "1.31"
	c.Cluster.NetworkCIDR = "10.0.0.0/16"
	if !ha {
		c.Cluster.APIAllowedCIDRs = []string{"0.0.0.0/0"}
	}
	c.Cluster.General = NodePool{MachineType: s.general[i], Min: choose(ha, 2, 3), Max: choose(ha, 4, 12)}
	c.Cluster.ClickHouse = NodePool{MachineType: s.clickhouse[i], Min: choose(ha, 1, 2), Max: choose(ha, 2, 8)}
	c.Postgres.Version = Current().ManagedPostgres.Versions[0]
	c.Postgres.InstanceClass = s.sql[i]
	c.Postgres.BackupRetentionDays = choose(c.Environment == Prod, 7, 14)
	c.Postgres.HighAvailability = c.Environment == Prod
	c.Postgres.Storage = choose(ha, "20Gi", "100Gi")
	c.ObjectStore.BucketPrefix = fmt.Sprintf("posthog-%s-%s", c.Cloud, c.Environment)
	c.ObjectStore.NoncurrentVersionDays = 30
}

var (
	k8sMinor     = regexp.MustCompile(`^1\.[0-9]{2}$`)
	gcpProject   = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	bucketPrefix = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)
)

// validateCloud checks what only a cloud stack has: where it runs, the cluster it creates, and
// the managed database's and buckets' safety minimums.
func (c *Config) validateCloud() Errors {
	var errs Errors
	check := errs.check
	ha := c.Environment != Dev
	s := sites[c.Cloud]

	suffixes, known := s.regions[c.Region]
	if c.Region == "" {
		check(false, "region", nil, fmt.Sprintf("is required for %s, such as %q", c.Cloud, s.defaultRegion))
	} else {
		check(known, "region", quote(c.Region), fmt.Sprintf("must be one of the %s regions this project deploys to: %s (see `%s`)",
			c.Cloud, strings.Join(sortedRegions(s), ", "), s.whereToSee))
	}
	c.Zones = s.nodes(c.Region, suffixes)
	if c.Cloud == GCP {
		check(gcpProject.MatchString(c.Project), "project", quote(c.Project), "is required on gcp: the project id, 6 to 30 lower-case letters, digits and '-'")
	} else {
		check(c.Project == "", "project", quote(c.Project), "is only for gcp")
	}

	cl := c.Cluster
	check(k8sMinor.MatchString(cl.Version), "cluster.version", quote(cl.Version), "must be a Kubernetes minor version such as \"1.31\"")
	network, err := netip.ParsePrefix(cl.NetworkCIDR)
	check(err == nil && network.Addr().Is4() && network.Bits() >= 8 && network.Bits() <= 16 && network == network.Masked(),
		"cluster.networkCidr", quote(cl.NetworkCIDR), "must be an IPv4 network from /8 to /16, such as 10.0.0.0/16")
	check(!ha || len(cl.APIAllowedCIDRs) > 0, "cluster.apiAllowedCidrs", nil,
		fmt.Sprintf("is required in %s: the networks (office, VPN, CI) that may reach the cluster's API", c.Environment))
	for i, cidr := range cl.APIAllowedCIDRs {
		p, err := netip.ParsePrefix(cidr)
		key := fmt.Sprintf("cluster.apiAllowedCidrs[%d]", i)
		check(err == nil && p == p.Masked(), key, quote(cidr), "must be a network such as 203.0.113.0/24")
		check(err != nil || !ha || p.Bits() > 0, key, quote(cidr),
			fmt.Sprintf("must not open the cluster's API to the whole internet in %s", c.Environment))
	}
	replicas := c.ClickHouse.Shards * c.ClickHouse.Replicas
	for _, pool := range []struct {
		key string
		p   NodePool
		min int
	}{{"cluster.general", cl.General, choose(ha, 1, 3)}, {"cluster.clickhouse", cl.ClickHouse, 1}} {
		check(pool.p.MachineType != "", pool.key+".machineType", nil, "is required: the cloud's machine size")
		check(pool.p.Min >= pool.min, pool.key+".min", pool.p.Min, fmt.Sprintf("must be at least %d in %s", pool.min, c.Environment))
		check(pool.p.Max >= pool.p.Min && pool.p.Max <= 100, pool.key+".max", pool.p.Max,
			fmt.Sprintf("must be from %s.min (%d) to 100", pool.key, pool.p.Min))
	}
	check(cl.ClickHouse.Max >= replicas, "cluster.clickhouse.max", cl.ClickHouse.Max,
		fmt.Sprintf("must be at least clickhouse.shards × clickhouse.replicas (%d): each replica needs its own node", replicas))

	pg := c.Postgres
	minDays := choose(c.Environment == Prod, 7, 14)
	managed := Current().ManagedPostgres
	check(slices.Contains(managed.Versions, pg.Version), "postgres.version", quote(pg.Version),
		fmt.Sprintf("must be one of %s for PostHog %s (%s); see docs/compatibility.md",
			strings.Join(managed.Versions, ", "), CurrentRelease, managed.Source))
	check(pg.InstanceClass != "", "postgres.instanceClass", nil, "is required: the cloud's database size")
	check(pg.BackupRetentionDays >= minDays && pg.BackupRetentionDays <= 35, "postgres.backupRetentionDays", pg.BackupRetentionDays,
		fmt.Sprintf("must be from %d to 35 in %s: backups and point-in-time recovery are never off", minDays, c.Environment))
	check(c.Environment != Prod || pg.HighAvailability, "postgres.highAvailability", pg.HighAvailability,
		"must be true in prod: a zone outage must not take the database down")
	size, _ := Bytes(pg.Storage)
	check(size >= 20<<30 && size%(1<<30) == 0, "postgres.storage", quote(pg.Storage), "must be whole Gi, at least 20Gi, on a cloud")

	o := c.ObjectStore
	check(bucketPrefix.MatchString(o.BucketPrefix), "objectStore.bucketPrefix", quote(o.BucketPrefix),
		"must be 3 to 40 lower-case letters, digits and '-' (bucket names are global: make it yours)")
	check(c.Cloud != Azure || len(o.AccountName()) <= 24, "objectStore.bucketPrefix", quote(o.BucketPrefix),
		"must have at most 24 letters and digits on azure: it names the storage account")
	check(o.NoncurrentVersionDays >= 7 && o.NoncurrentVersionDays <= 365, "objectStore.noncurrentVersionDays", o.NoncurrentVersionDays,
		"must be from 7 to 365: an overwritten backup stays recoverable for at least a week")
	check(c.Cloud != DigitalOcean || !cl.SpreadZones, "cluster.spreadZones", true,
		"must be false on digitalocean: its regions have no zones (members of a quorum or a shard are kept on separate nodes instead)")
	check(c.Cloud != Azure || !pg.HighAvailability || !strings.HasPrefix(pg.InstanceClass, "Standard_B"), "postgres.instanceClass",
		quote(pg.InstanceClass), "must not be a burstable (Standard_B) size with postgres.highAvailability on azure")
	check(c.Cloud != Azure || !c.ClickHouse.ColdStorage.Enabled, "clickhouse.coldStorage.enabled", true,
		"is not available on azure: ClickHouse's cold tier here speaks the S3 API, which Azure Blob does not")
	return errs
}

func sortedRegions(s site) []string {
	out := make([]string, 0, len(s.regions))
	for r := range s.regions {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
