package config

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// cloudDefaults fills the cluster, database and bucket defaults of a cloud stack.
func cloudDefaults(c *Config) {
	s := Facts(c.Cloud)
	if s.StandIns {
		return
	}
	ha := c.Environment != Dev
	i := choose(ha, 0, 1)
	c.Cluster.Version = s.Kubernetes[len(s.Kubernetes)-1].Version
	c.Cluster.NetworkCIDR = "10.0.0.0/16"
	if n, ok := s.Networks[c.Environment]; ok {
		c.Cluster.NetworkCIDR = n
	}
	if !ha {
		c.Cluster.APIAllowedCIDRs = []string{"0.0.0.0/0"}
	}
	c.Cluster.General = NodePool{MachineType: s.General[i], Min: choose(ha, 2, 3), Max: choose(ha, 4, 12)}
	c.Cluster.ClickHouse = NodePool{MachineType: s.ClickHouse[i], Min: choose(ha, 1, 2), Max: choose(ha, 2, 8)}
	c.Postgres.Version = Current().ManagedPostgres.Versions[0]
	c.Postgres.InstanceClass = s.Database[i]
	c.Postgres.BackupRetentionDays = choose(c.Environment == Prod, 7, 14)
	c.Postgres.HighAvailability = c.Environment == Prod
	c.Postgres.Storage = fmt.Sprintf("%dGi", s.databaseStorage(c.Postgres.InstanceClass, choose(ha, 20, 100)))
	// No default prefix: bucket names (and Azure's account and database names) are global, and
	// posthog-<cloud>-<env> would be everyone's.
	c.ObjectStore.NoncurrentVersionDays = 30
	c.PostHog.TLS = TLSLetsEncrypt
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
	s := Facts(c.Cloud)

	suffixes, known := s.Regions[c.Region]
	if c.Region == "" {
		check(false, "region", nil, fmt.Sprintf("is required for %s, such as %q", c.Cloud, s.DefaultRegion))
	} else {
		check(known, "region", quote(c.Region), fmt.Sprintf("must be one of the %s regions this project deploys to: %s (see `%s`)",
			c.Cloud, strings.Join(slices.Sorted(maps.Keys(s.Regions)), ", "), s.ListRegions))
	}
	c.Zones = s.ZoneNames(c.Region, suffixes)
	if s.Project {
		check(gcpProject.MatchString(c.Project), "project", quote(c.Project),
			fmt.Sprintf("is required on %s: the project id, 6 to 30 lower-case letters, digits and '-'", c.Cloud))
	} else {
		check(c.Project == "", "project", quote(c.Project), "is only for a cloud with projects ("+strings.Join(withProjects(), ", ")+")")
	}

	cl := c.Cluster
	check(k8sMinor.MatchString(cl.Version), "cluster.version", quote(cl.Version), "must be a Kubernetes minor version such as \"1.36\"")
	check(!k8sMinor.MatchString(cl.Version) || slices.ContainsFunc(s.Kubernetes, func(v Support) bool { return v.Version == cl.Version }),
		"cluster.version", quote(cl.Version), fmt.Sprintf("must be a version %s creates clusters on in standard support: %s (as of %s: %s)",
			c.Cloud, supportList(s.Kubernetes), FactsAsOf, s.KubernetesSource))
	network, err := netip.ParsePrefix(cl.NetworkCIDR)
	check(err == nil && network.Addr().Is4() && network.Bits() >= 8 && network.Bits() <= 16 && network == network.Masked(),
		"cluster.networkCidr", quote(cl.NetworkCIDR), "must be an IPv4 network from /8 to /16, such as 10.0.0.0/16")
	if err == nil {
		errs = append(errs, c.Addresses().validate()...)
	}
	check(!ha || len(cl.APIAllowedCIDRs) > 0, "cluster.apiAllowedCidrs", nil,
		fmt.Sprintf("is required in %s: the networks (office, VPN, CI) that may reach the cluster's API", c.Environment))
	for i, cidr := range cl.APIAllowedCIDRs {
		p, err := netip.ParsePrefix(cidr)
		key := fmt.Sprintf("cluster.apiAllowedCidrs[%d]", i)
		check(err == nil && p == p.Masked(), key, quote(cidr), "must be a network such as 203.0.113.0/24")
		check(err != nil || !ha || p.Bits() > 0, key, quote(cidr),
			fmt.Sprintf("must not open the cluster's API to the whole internet in %s", c.Environment))
	}
	if s.Admins != nil && s.Admins.Required {
		check(len(cl.Admins) > 0, "cluster.admins", nil, fmt.Sprintf("is required on %s: who administers the cluster (%s each; "+
			"nobody else can reach it), such as %s", c.Cloud, s.Admins.What, s.Admins.Example))
	}
	for i, admin := range cl.Admins {
		key := fmt.Sprintf("cluster.admins[%d]", i)
		if s.Admins == nil {
			check(false, key, quote(admin), fmt.Sprintf("is not for %s: its IAM already decides who reaches the cluster (docs/clouds.md)", c.Cloud))
			break
		}
		check(s.Admins.Pattern.MatchString(admin), key, quote(admin), fmt.Sprintf("must be %s, such as %s", s.Admins.What, s.Admins.Example))
		check(!slices.Contains(cl.Admins[:i], admin), key, quote(admin), "is listed twice")
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
	check(!slices.Contains(managed.Versions, pg.Version) || slices.ContainsFunc(s.Postgres, func(v Support) bool { return v.Version == pg.Version }),
		"postgres.version", quote(pg.Version), fmt.Sprintf("must be a version %s's managed PostgreSQL creates: %s (as of %s: %s)",
			c.Cloud, supportList(s.Postgres), FactsAsOf, s.PostgresSource))
	check(pg.InstanceClass != "", "postgres.instanceClass", nil, "is required: the cloud's database size")
	check(pg.BackupRetentionDays >= minDays && pg.BackupRetentionDays <= 35, "postgres.backupRetentionDays", pg.BackupRetentionDays,
		fmt.Sprintf("must be from %d to 35 in %s: backups and point-in-time recovery are never off", minDays, c.Environment))
	check(c.Environment != Prod || pg.HighAvailability, "postgres.highAvailability", pg.HighAvailability,
		"must be true in prod: a zone outage must not take the database down")
	size, _ := Bytes(pg.Storage)
	check(size >= 20<<30 && size%(1<<30) == 0, "postgres.storage", quote(pg.Storage), "must be whole Gi, at least 20Gi, on a cloud")
	gi := int(size >> 30)
	check(s.DatabaseSizesGi == nil || slices.Contains(s.DatabaseSizesGi, gi), "postgres.storage", quote(pg.Storage),
		fmt.Sprintf("must be one of the sizes %s's database accepts: %s (%s)", c.Cloud, giList(s.DatabaseSizesGi), s.DatabaseSource))
	if base, ok := s.DatabaseBaseGi[pg.InstanceClass]; ok {
		check(gi >= base, "postgres.storage", quote(pg.Storage), fmt.Sprintf("must be at least %dGi, the storage %s includes (%s)",
			base, pg.InstanceClass, s.DatabaseSource))
	}

	o := c.ObjectStore
	if o.BucketPrefix == "" {
		check(false, "objectStore.bucketPrefix", nil, "is required on a cloud: its buckets (and Azure's storage account and "+
			"database) take names that are global across the cloud, so make it your organisation's, such as \"acme-posthog-prod\"")
	} else {
		check(bucketPrefix.MatchString(o.BucketPrefix), "objectStore.bucketPrefix", quote(o.BucketPrefix),
			"must be 3 to 40 lower-case letters, digits and '-' (bucket names are global: make it yours)")
	}
	check(s.AccountNameMax == 0 || len(o.AccountName()) <= s.AccountNameMax, "objectStore.bucketPrefix", quote(o.BucketPrefix),
		fmt.Sprintf("must have at most %d letters and digits on %s: it names the storage account", s.AccountNameMax, c.Cloud))
	check(o.NoncurrentVersionDays >= 7 && o.NoncurrentVersionDays <= 365, "objectStore.noncurrentVersionDays", o.NoncurrentVersionDays,
		"must be from 7 to 365: an overwritten backup stays recoverable for at least a week")
	check(s.Zoned || !cl.SpreadZones, "cluster.spreadZones", true, fmt.Sprintf("must be false on %s: its regions have no zones "+
		"(members of a quorum or a shard are kept on separate nodes instead)", c.Cloud))
	check(s.BurstablePrefix == "" || !pg.HighAvailability || !strings.HasPrefix(pg.InstanceClass, s.BurstablePrefix),
		"postgres.instanceClass", quote(pg.InstanceClass),
		fmt.Sprintf("must not be a burstable (%s) size with postgres.highAvailability on %s", s.BurstablePrefix, c.Cloud))
	check(s.ColdTier() || !c.ClickHouse.ColdStorage.Enabled, "clickhouse.coldStorage.enabled", true,
		fmt.Sprintf("is not available on %s: ClickHouse's cold tier speaks the S3 API, which its buckets (%s) do not", c.Cloud, s.ObjectAPI))
	return errs
}

// withProjects are the clouds whose stacks name a project.
func withProjects() []string {
	var out []string
	for _, f := range Registry {
		if f.Project {
			out = append(out, string(f.Cloud))
		}
	}
	return out
}

// databaseStorage is the smallest storage in Gi, at least want, that the cloud's database of
// this size accepts.
func (f CloudFacts) databaseStorage(class string, want int) int {
	if base := f.DatabaseBaseGi[class]; base > want {
		want = base
	}
	for _, gi := range f.DatabaseSizesGi {
		if gi >= want {
			return gi
		}
	}
	return want
}

func supportList(vs []Support) string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%q (until %s)", v.Version, v.Ends))
	}
	return strings.Join(out, ", ")
}

func giList(sizes []int) string {
	var out []string
	for _, gi := range sizes {
		out = append(out, fmt.Sprintf("%dGi", gi))
	}
	return strings.Join(out, ", ")
}
