package config

import (
	"fmt"
	"net/netip"
)

// Range is one named address range of a stack's network plan.
type Range struct {
	Name, CIDR string
}

// Addresses is a cloud stack's address plan, made in one place so that no two ranges overlap:
// the subnets carved from cluster.networkCidr (Inside) and the cluster's own ranges beside the
// network (Outside: pods, services, the control plane), which must stay clear of it and of each
// other. A cloud refuses a plan that breaks this only when it creates the resource (EC2's
// InvalidSubnet.Conflict, AKS's ServiceCidrOverlapExistingSubnetsCidr); config validation
// refuses it before any resource exists.
type Addresses struct {
	Network string
	Inside  []Range
	Outside []Range
	// DNSServiceIP is the cluster DNS address where the cloud asks for one (inside "services").
	DNSServiceIP string
}

// CIDR is the range named name ("" if the plan has none).
func (a Addresses) CIDR(name string) string {
	for _, r := range append(append([]Range{}, a.Inside...), a.Outside...) {
		if r.Name == name {
			return r.CIDR
		}
	}
	return ""
}

// Addresses is the stack's address plan (empty for a stack on an existing cluster).
func (c *Config) Addresses() Addresses {
	plan := Facts(c.Cloud).Plan
	if plan == nil {
		return Addresses{}
	}
	return plan(c.Cluster.NetworkCIDR, len(c.Zones))
}

// Subnet is the index-th network of the network's size plus newBits: Subnet("10.0.0.0/16", 3, 1)
// is 10.0.32.0/19.
func Subnet(cidr string, newBits, index int) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	bits := p.Bits() + newBits
	a := p.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n += uint32(index) << (32 - bits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), bits).String()
}

// overlap reports whether two ranges share an address.
func overlap(a, b netip.Prefix) bool { return a.Overlaps(b) }

// validate names every range of the plan that leaves the network, overlaps another, or that a
// cloud would refuse for its DNS address.
func (a Addresses) validate() Errors {
	var errs Errors
	network, err := netip.ParsePrefix(a.Network)
	if err != nil {
		return nil // cluster.networkCidr's own check reports it
	}
	key := "cluster.networkCidr"
	parsed := func(r Range) netip.Prefix { return netip.MustParsePrefix(r.CIDR) }
	for i, r := range a.Inside {
		p := parsed(r)
		if !network.Contains(p.Addr()) || p.Bits() < network.Bits() {
			errs = append(errs, FieldError{key, quote(a.Network), fmt.Sprintf("is too small for the %s subnet %s", r.Name, r.CIDR)})
		}
		for _, s := range a.Inside[:i] {
			if overlap(p, parsed(s)) {
				errs = append(errs, FieldError{key, quote(a.Network), fmt.Sprintf("gives overlapping subnets: %s %s and %s %s", s.Name, s.CIDR, r.Name, r.CIDR)})
			}
		}
	}
	for i, r := range a.Outside {
		p := parsed(r)
		if overlap(p, network) {
			errs = append(errs, FieldError{key, quote(a.Network), fmt.Sprintf("must not overlap the cluster's %s range %s: choose another network", r.Name, r.CIDR)})
		}
		for _, s := range a.Outside[:i] {
			if overlap(p, parsed(s)) {
				errs = append(errs, FieldError{key, quote(a.Network), fmt.Sprintf("plan error: the cluster's %s %s and %s %s overlap", s.Name, s.CIDR, r.Name, r.CIDR)})
			}
		}
	}
	if a.DNSServiceIP != "" {
		ip, err := netip.ParseAddr(a.DNSServiceIP)
		services, perr := netip.ParsePrefix(a.CIDR("services"))
		if err != nil || perr != nil || !services.Contains(ip) {
			errs = append(errs, FieldError{key, quote(a.Network), fmt.Sprintf("plan error: the DNS service address %s is not in the services range %s", a.DNSServiceIP, a.CIDR("services"))})
		}
	}
	return errs
}

// The address plans of the clouds (CloudFacts.Plan).

// awsPlan: a private /19 per zone at the start of the network (nodes and pods: the VPC CNI gives
// pods VPC addresses), and a public /22 per zone for load balancers and NAT gateways after
// them (24+i: the /22s that follow three /19s). EKS picks its service range itself, clear of
// the VPC.
func awsPlan(network string, zones int) Addresses {
	a := Addresses{Network: network}
	for i := range zones {
		a.Inside = append(a.Inside, Range{fmt.Sprintf("private-%d", i), Subnet(network, 3, i)})
	}
	for i := range zones {
		a.Inside = append(a.Inside, Range{fmt.Sprintf("public-%d", i), Subnet(network, 6, 24+i)})
	}
	return a
}

// gcpPlan: the nodes' subnetwork is the first /20; pods and services are secondary ranges of
// their own (VPC-native), the control plane a /28 of Google's.
func gcpPlan(network string, _ int) Addresses {
	return Addresses{Network: network,
		Inside: []Range{{"nodes", Subnet(network, 4, 0)}},
		Outside: []Range{{"pods", "10.64.0.0/14"}, {"services", "10.68.0.0/20"},
			{"control-plane", "172.16.0.32/28"}},
	}
}

// azurePlan: the nodes' subnet is the first quarter of the VNet and the database's delegated
// subnet a /24 near its end; pods (Azure CNI Overlay) and services are ranges of their own. AKS
// defaults the service range to 10.0.0.0/16, the VNet's own range here, and refuses it.
func azurePlan(network string, _ int) Addresses {
	return Addresses{Network: network,
		Inside:       []Range{{"nodes", Subnet(network, 2, 0)}, {"postgres", Subnet(network, 8, 192)}},
		Outside:      []Range{{"pods", "10.244.0.0/16"}, {"services", "10.245.0.0/16"}},
		DNSServiceIP: "10.245.0.10",
	}
}
