// Package azure is the foundation on Azure: a resource group and VNet, an AKS cluster over three
// zones with RBAC, Microsoft Entra ID only (no local accounts), OIDC, workload identity and the
// Cilium data plane, PostgreSQL Flexible Server inside the VNet with backups (geo-redundant and
// zone-redundant HA in prod), and a storage account whose blob containers are versioned,
// soft-deleted, private and TLS 1.2 only.
package azure

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/dbforpostgresql/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// New provisions the stack's Azure foundation.
func New(ctx *pulumi.Context, name string, args foundation.Args, opts ...pulumi.ResourceOption) (*foundation.Foundation, error) {
	cfg := args.Config
	f, on, err := foundation.Begin(ctx, config.Azure, name, opts...)
	if err != nil {
		return nil, err
	}
	location := pulumi.String(cfg.Region)
	keep := foundation.Keep(cfg, on)

	// The group holds the database and the storage account: deleting it deletes them.
	group, err := resources.NewResourceGroup(ctx, name, &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(name), Location: location,
	}, keep...)
	if err != nil {
		return nil, err
	}
	rg := group.Name
	vnet, err := network.NewVirtualNetwork(ctx, name, &network.VirtualNetworkArgs{
		ResourceGroupName: rg, Location: location, VirtualNetworkName: pulumi.String(name),
		AddressSpace: network.AddressSpaceArgs{AddressPrefixes: pulumi.ToStringArray([]string{cfg.Cluster.NetworkCIDR})},
	}, pulumi.IgnoreChanges([]string{"subnets"}), on)
	if err != nil {
		return nil, err
	}
	nodes, err := network.NewSubnet(ctx, name+"-nodes", &network.SubnetArgs{
		ResourceGroupName: rg, VirtualNetworkName: vnet.Name, SubnetName: pulumi.String("nodes"),
		AddressPrefix: pulumi.String(cfg.Addresses().CIDR("nodes")),
	}, on)
	if err != nil {
		return nil, err
	}
	cluster, err := newCluster(ctx, name, cfg, rg, nodes, on)
	if err != nil {
		return nil, err
	}
	pg, err := newPostgres(ctx, name, cfg, rg, vnet, keep, on)
	if err != nil {
		return nil, err
	}
	store, containers, err := newStorage(ctx, cfg, rg, keep, on)
	if err != nil {
		return nil, err
	}
	identity, granted, err := newStorageIdentity(ctx, name, cfg, rg, cluster.issuer, containers, on)
	if err != nil {
		return nil, err
	}
	creds := containerservice.ListManagedClusterUserCredentialsOutput(ctx, containerservice.ListManagedClusterUserCredentialsOutputArgs{
		ResourceGroupName: rg, ResourceName: cluster.Name,
	}, pulumi.Parent(f))
	k8s, err := foundation.NewCluster(ctx, "cluster", foundation.ClusterArgs{
		Config:     cfg,
		Kubeconfig: entraKubeconfig(name, creds.Kubeconfigs().Index(pulumi.Int(0)).Value()),
		Volumes: &foundation.StorageClass{Provisioner: "disk.csi.azure.com",
			Parameters: map[string]string{"skuName": "Premium_LRS", "cachingMode": "ReadOnly"}},
		ServiceAccount: true,
		Identity:       map[string]pulumi.StringInput{"azure.workload.identity/client-id": identity.ClientId},
		IdentityLabels: WorkloadIdentityLabel,
		Zones:          zonesOf(cfg),
		Ready:          append(cluster.ready, granted...),
		Postgres:       pg,
	}, pulumi.Parent(f))
	if err != nil {
		return nil, err
	}
	return f.Finish(ctx, cfg, k8s, zonesOf(cfg), pg, store)
}

// zonesOf names the zones as the nodes' topology.kubernetes.io/zone label does (eastus-1).
func zonesOf(cfg *config.Config) []string {
	out := make([]string, len(cfg.Zones))
	for i, z := range cfg.Zones {
		out[i] = cfg.Region + "-" + z
	}
	return out
}

type cluster struct {
	Name pulumi.StringOutput
	// issuer is the cluster's OIDC issuer, which workload identities federate with.
	issuer pulumi.StringOutput
	// ready is what workloads wait for: the pools, and the identity's rights on their subnet.
	ready []pulumi.Resource
}

func newCluster(ctx *pulumi.Context, name string, cfg *config.Config, rg pulumi.StringOutput, subnet *network.Subnet,
	on pulumi.ResourceOption) (*cluster, error) {
	pools := foundation.Pools(cfg)
	general, ch := pools[0], pools[1]
	tier := "Free"
	if cfg.Environment != config.Dev {
		tier = "Standard" // the uptime SLA
	}
	aks, err := containerservice.NewManagedCluster(ctx, name, &containerservice.ManagedClusterArgs{
		ResourceGroupName: rg,
		ResourceName:      pulumi.String(name),
		Location:          pulumi.String(cfg.Region),
		DnsPrefix:         pulumi.String(name),
		KubernetesVersion: pulumi.String(cfg.Cluster.Version),
		EnableRBAC:        pulumi.Bool(true),
		// Microsoft Entra ID only: no local admin certificate to leak or to store in the stack.
		// Members of cluster.admins' groups are cluster-admin (Kubernetes RBAC, not Azure RBAC).
		DisableLocalAccounts: pulumi.Bool(true),
		AadProfile: containerservice.ManagedClusterAADProfileArgs{
			Managed: pulumi.Bool(true), EnableAzureRBAC: pulumi.Bool(false),
			AdminGroupObjectIDs: pulumi.ToStringArray(cfg.Cluster.Admins),
		},
		Identity:          containerservice.ManagedClusterIdentityArgs{Type: containerservice.ResourceIdentityTypeSystemAssigned},
		Sku:               containerservice.ManagedClusterSKUArgs{Name: pulumi.String("Base"), Tier: pulumi.String(tier)},
		OidcIssuerProfile: containerservice.ManagedClusterOIDCIssuerProfileArgs{Enabled: pulumi.Bool(true)},
		SecurityProfile: containerservice.ManagedClusterSecurityProfileArgs{
			WorkloadIdentity: containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs{Enabled: pulumi.Bool(true)},
		},
		ApiServerAccessProfile: containerservice.ManagedClusterAPIServerAccessProfileArgs{
			AuthorizedIPRanges: pulumi.ToStringArray(authorized(cfg.Cluster.APIAllowedCIDRs)),
		},
		NetworkProfile: containerservice.ContainerServiceNetworkProfileArgs{
			// Azure CNI overlay powered by Cilium: the network policy manager "azure" (NPM) is
			// retired; Cilium enforces the NetworkPolicies (azure-cni-powered-by-cilium.md).
			NetworkPlugin: pulumi.String("azure"), NetworkPluginMode: pulumi.String("overlay"),
			NetworkDataplane: pulumi.String("cilium"), NetworkPolicy: pulumi.String("cilium"),
			// Explicit, from the address plan: AKS's default service range is 10.0.0.0/16, the VNet's.
			PodCidr: pulumi.String(cfg.Addresses().CIDR("pods")), ServiceCidr: pulumi.String(cfg.Addresses().CIDR("services")),
			DnsServiceIP: pulumi.String(cfg.Addresses().DNSServiceIP),
		},
		AgentPoolProfiles: containerservice.ManagedClusterAgentPoolProfileArray{containerservice.ManagedClusterAgentPoolProfileArgs{
			Name: pulumi.String(general.Name), Mode: pulumi.String("System"), OsType: pulumi.String("Linux"),
			VmSize: pulumi.String(general.MachineType), VnetSubnetID: subnet.ID(),
			EnableAutoScaling: pulumi.Bool(true), Count: pulumi.Int(general.Min),
			MinCount: pulumi.Int(general.Min), MaxCount: pulumi.Int(general.Max),
			AvailabilityZones: pulumi.ToStringArray(cfg.Zones), NodeLabels: pulumi.ToStringMap(general.Labels),
		}},
	}, pulumi.IgnoreChanges([]string{"agentPoolProfiles[0].count",
		// azure-native replaces a cluster whose network profile changes (pulumi-azure-native
		// #4756): a cluster made with the network policy manager keeps it here, and moves to
		// Cilium out of band (docs/clouds.md), never by a replacement that takes its disks along.
		"networkProfile.networkDataplane", "networkProfile.networkPolicy"}), on)
	if err != nil {
		return nil, err
	}
	pool, err := containerservice.NewAgentPool(ctx, name+"-"+ch.Name, &containerservice.AgentPoolArgs{
		ResourceGroupName: rg, ResourceName: aks.Name, AgentPoolName: pulumi.String(ch.Name),
		Mode: pulumi.String("User"), OsType: pulumi.String("Linux"), VmSize: pulumi.String(ch.MachineType),
		VnetSubnetID: subnet.ID(), EnableAutoScaling: pulumi.Bool(true), Count: pulumi.Int(ch.Min),
		MinCount: pulumi.Int(ch.Min), MaxCount: pulumi.Int(ch.Max),
		AvailabilityZones: pulumi.ToStringArray(cfg.Zones), NodeLabels: pulumi.ToStringMap(ch.Labels),
		NodeTaints: pulumi.ToStringArray([]string{fmt.Sprintf("%s=%s:%s", kube.PoolLabel, ch.Name, config.Facts(config.Azure).TaintEffect)}),
	}, pulumi.IgnoreChanges([]string{"count"}), on)
	if err != nil {
		return nil, err
	}
	// The nodes are on the stack's own subnet: the cluster's identity must be able to put load
	// balancers and nodes on it.
	network, err := newRoleAssignment(ctx, name+"-subnet-network", aks.Identity.PrincipalId().Elem(), NetworkContributor,
		subnet.ID().ToStringOutput(), on)
	if err != nil {
		return nil, err
	}
	issuer := aks.OidcIssuerProfile.ApplyT(func(p *containerservice.ManagedClusterOIDCIssuerProfileResponse) (string, error) {
		if p == nil || p.IssuerURL == "" {
			return "", fmt.Errorf("AKS %s has no OIDC issuer: workload identity needs it", name)
		}
		return p.IssuerURL, nil
	}).(pulumi.StringOutput)
	return &cluster{Name: aks.Name, issuer: issuer, ready: []pulumi.Resource{pool, network}}, nil
}

// authorized is AKS's list of API ranges: none means any address.
func authorized(cidrs []string) []string {
	var out []string
	for _, c := range cidrs {
		if c != "0.0.0.0/0" {
			out = append(out, c)
		}
	}
	return out
}

func newPostgres(ctx *pulumi.Context, name string, cfg *config.Config, rg pulumi.StringOutput, vnet *network.VirtualNetwork,
	keep []pulumi.ResourceOption, on pulumi.ResourceOption) (foundation.Postgres, error) {
	// Inside the VNet only: a delegated subnet and a private DNS zone, no public endpoint.
	subnet, err := network.NewSubnet(ctx, name+"-postgres", &network.SubnetArgs{
		ResourceGroupName: rg, VirtualNetworkName: vnet.Name, SubnetName: pulumi.String("postgres"),
		AddressPrefix: pulumi.String(cfg.Addresses().CIDR("postgres")),
		Delegations: network.DelegationArray{network.DelegationArgs{
			Name: pulumi.String("postgres"), ServiceName: pulumi.String("Microsoft.DBforPostgreSQL/flexibleServers"),
		}},
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	zone, err := network.NewPrivateZone(ctx, name+"-postgres", &network.PrivateZoneArgs{
		ResourceGroupName: rg, Location: pulumi.String("global"),
		PrivateZoneName: pulumi.String(name + ".private.postgres.database.azure.com"),
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	link, err := network.NewVirtualNetworkLink(ctx, name+"-postgres", &network.VirtualNetworkLinkArgs{
		ResourceGroupName: rg, Location: pulumi.String("global"), PrivateZoneName: zone.Name,
		VirtualNetwork: network.SubResourceArgs{Id: vnet.ID()}, RegistrationEnabled: pulumi.Bool(false),
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	pg := cfg.Postgres
	size, _ := config.Bytes(pg.Storage)
	ha, geo := "Disabled", "Disabled"
	if pg.HighAvailability {
		ha = "ZoneRedundant"
	}
	if cfg.Environment == config.Prod {
		geo = "Enabled"
	}
	db := foundation.PostgresDatabase
	server, err := dbforpostgresql.NewServer(ctx, name, &dbforpostgresql.ServerArgs{
		ResourceGroupName:          rg,
		ServerName:                 pulumi.String(cfg.ObjectStore.DatabaseName()),
		Location:                   pulumi.String(cfg.Region),
		Version:                    pulumi.String(pg.Version),
		Sku:                        dbforpostgresql.SkuArgs{Name: pulumi.String(pg.InstanceClass), Tier: pulumi.String(skuTier(pg.InstanceClass))},
		Storage:                    dbforpostgresql.StorageArgs{StorageSizeGB: pulumi.Int(int(size >> 30))},
		AdministratorLogin:         pulumi.String(db.User),
		AdministratorLoginPassword: cfg.Secrets.PostgresPassword,
		CreateMode:                 pulumi.String("Default"),
		Backup: dbforpostgresql.BackupTypeArgs{
			BackupRetentionDays: pulumi.Int(pg.BackupRetentionDays), GeoRedundantBackup: pulumi.String(geo),
		},
		HighAvailability: dbforpostgresql.HighAvailabilityArgs{Mode: pulumi.String(ha)},
		Network: dbforpostgresql.NetworkArgs{
			DelegatedSubnetResourceId: subnet.ID(), PrivateDnsZoneArmResourceId: zone.ID(),
		},
	}, append(keep, pulumi.DependsOn([]pulumi.Resource{link}))...)
	if err != nil {
		return foundation.Postgres{}, err
	}
	database, err := dbforpostgresql.NewDatabase(ctx, name, &dbforpostgresql.DatabaseArgs{
		ResourceGroupName: rg, ServerName: server.Name, DatabaseName: pulumi.String(db.Name),
	}, keep...)
	if err != nil {
		return foundation.Postgres{}, err
	}
	// Flexible Server creates only the extensions its azure.extensions parameter allows, and
	// PostHog's migrations create pg_trgm.
	extensions, err := dbforpostgresql.NewConfiguration(ctx, name+"-extensions", &dbforpostgresql.ConfigurationArgs{
		ResourceGroupName: rg, ServerName: server.Name, ConfigurationName: pulumi.String("azure.extensions"),
		Value: pulumi.String(strings.Join(foundation.PostgresExtensions, ",")), Source: pulumi.String("user-override"),
		// One operation at a time: Flexible Server refuses a second while one runs (ServerIsBusy).
	}, on, pulumi.DependsOn([]pulumi.Resource{database}))
	if err != nil {
		return foundation.Postgres{}, err
	}
	endpoint := db.At(server.FullyQualifiedDomainName, cfg.Secrets.PostgresPassword)
	endpoint.Ready = []pulumi.Resource{server, database, extensions}
	// Flexible Server's certificates chain to public roots and name the server's host.
	endpoint.TLS = foundation.PostgresTLS{Mode: "verify-full"}
	return endpoint, nil
}

// skuTier is Flexible Server's tier of a machine size: B-series burst, E-series are memory
// optimized, the rest general purpose.
func skuTier(size string) string {
	switch {
	case strings.HasPrefix(size, "Standard_B"):
		return "Burstable"
	case strings.HasPrefix(size, "Standard_E"):
		return "MemoryOptimized"
	default:
		return "GeneralPurpose"
	}
}
