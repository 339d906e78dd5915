package platform_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// cidr is one address range a stack sends to its cloud, and where.
type cidr struct {
	where  string
	prefix netip.Prefix
	// network says the range is a VPC or VNet, which its subnets lie in.
	network bool
}

// cidrs are the address ranges of a rendered cloud stack, read from the resources it sends.
func cidrs(t *testing.T, s cloudStack) []cidr {
	t.Helper()
	var out []cidr
	add := func(where string, v resource.PropertyValue, network bool) {
		if !v.IsString() {
			return
		}
		p, err := netip.ParsePrefix(v.StringValue())
		if err != nil {
			t.Errorf("%s: %s is not a network: %v", s.name, where, err)
			return
		}
		out = append(out, cidr{where, p, network})
	}
	for _, r := range s.rs {
		o := obj(r)
		where := r.Type + " " + r.Name
		switch r.Type {
		case "aws:ec2/vpc:Vpc":
			add(where, get(o, "cidrBlock"), true)
		case "aws:ec2/subnet:Subnet":
			add(where, get(o, "cidrBlock"), false)
		case "gcp:compute/subnetwork:Subnetwork":
			add(where, get(o, "ipCidrRange"), false)
			for _, sr := range get(o, "secondaryIpRanges").ArrayValue() {
				add(where+" "+str(get(sr, "rangeName")), get(sr, "ipCidrRange"), false)
			}
		case "gcp:container/cluster:Cluster":
			add(where+" control plane", get(o, "privateClusterConfig", "masterIpv4CidrBlock"), false)
		case "azure-native:network:VirtualNetwork":
			for _, p := range get(o, "addressSpace", "addressPrefixes").ArrayValue() {
				add(where, p, true)
			}
		case "azure-native:network:Subnet":
			add(where, get(o, "addressPrefix"), false)
		case "azure-native:containerservice:ManagedCluster":
			add(where+" pods", get(o, "networkProfile", "podCidr"), false)
			add(where+" services", get(o, "networkProfile", "serviceCidr"), false)
		case "digitalocean:index/vpc:Vpc":
			add(where, get(o, "ipRange"), true)
		}
	}
	return out
}

// The clouds refuse overlapping ranges when they create the second one (EC2
// InvalidSubnet.Conflict, AKS ServiceCidrOverlapExistingSubnetsCidr): no two ranges a stack sends
// may overlap, except a subnet inside its network; a cluster range outside the network (pods,
// services, control plane) may not touch it.
func TestNoStackSendsOverlappingRanges(t *testing.T) {
	for _, s := range cloudStacks(t) {
		rs := cidrs(t, s)
		if len(rs) < 2 && s.cloud != "digitalocean" {
			t.Fatalf("%s: only %d ranges found: the test reads the wrong properties", s.name, len(rs))
		}
		for i, a := range rs {
			for _, b := range rs[:i] {
				if !a.prefix.Overlaps(b.prefix) || a.network != b.network && containsPrefix(a, b) {
					continue
				}
				t.Errorf("%s: %s %s overlaps %s %s", s.name, a.where, a.prefix, b.where, b.prefix)
			}
		}
	}
}

// containsPrefix says one of a and b is a network and holds the other whole; a subnet meant to
// be outside the network (a cluster's pods, services or control plane) is named so.
func containsPrefix(a, b cidr) bool {
	n, s := a, b
	if b.network {
		n, s = b, a
	}
	outside := strings.HasSuffix(s.where, " pods") || strings.HasSuffix(s.where, " services") ||
		strings.HasSuffix(s.where, " control plane")
	return !outside && n.prefix.Contains(s.prefix.Addr()) && s.prefix.Bits() >= n.prefix.Bits()
}

// VPC ranges may not overlap within a DigitalOcean account, so the environments of one cloud
// that share an account take separate networks.
func TestDigitalOceanEnvironmentsTakeSeparateNetworks(t *testing.T) {
	var seen []cidr
	for _, s := range cloudStacks(t) {
		if s.cloud != "digitalocean" {
			continue
		}
		for _, c := range cidrs(t, s) {
			for _, o := range seen {
				if c.network && o.network && c.prefix.Overlaps(o.prefix) {
					t.Errorf("%s %s overlaps %s %s", c.where, c.prefix, o.where, o.prefix)
				}
			}
			if c.network {
				c.where = s.name + ": " + c.where
				seen = append(seen, c)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("%d DigitalOcean VPCs, want one per environment", len(seen))
	}
}
