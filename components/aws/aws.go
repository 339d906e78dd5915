// Package aws is the foundation on AWS: a VPC over three zones with private subnets and NAT, an
// EKS cluster with KMS-encrypted Secrets, IRSA and managed node groups, RDS PostgreSQL with
// backups, and versioned, private, encrypted S3 buckets reached through IRSA.
package aws

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// New provisions the stack's AWS foundation.
func New(ctx *pulumi.Context, name string, args foundation.Args, opts ...pulumi.ResourceOption) (*foundation.Foundation, error) {
	cfg := args.Config
	f, under, err := foundation.Begin(ctx, config.AWS, name, opts...)
	if err != nil {
		return nil, err
	}
	provider, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region:      pulumi.String(cfg.Region),
		DefaultTags: aws.ProviderDefaultTagsArgs{Tags: pulumi.StringMap{"posthog-deploy/stack": pulumi.String(name)}},
	}, under)
	if err != nil {
		return nil, err
	}
	on := pulumi.Composite(under, pulumi.Provider(provider))
	keep := foundation.Keep(cfg, on)

	net, err := newNetwork(ctx, name, cfg, on)
	if err != nil {
		return nil, err
	}
	key, err := kms.NewKey(ctx, name, &kms.KeyArgs{
		Description:          pulumi.String("Encrypts " + name + "'s Kubernetes Secrets and database"),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(30),
	}, keep...)
	if err != nil {
		return nil, err
	}
	cl, err := newCluster(ctx, name, cfg, net, key, on)
	if err != nil {
		return nil, err
	}
	pg, err := newPostgres(ctx, name, cfg, net, key, on, keep)
	if err != nil {
		return nil, err
	}
	store, err := newBuckets(ctx, cfg, cl.oidc, keep, on)
	if err != nil {
		return nil, err
	}
	k8s, err := foundation.NewCluster(ctx, "cluster", foundation.ClusterArgs{
		Config:     cfg,
		Kubeconfig: cl.kubeconfig,
		Volumes: &foundation.StorageClass{Provisioner: "ebs.csi.aws.com",
			Parameters: map[string]string{"type": "gp3", "encrypted": "true", "fsType": "ext4"}},
		ServiceAccount: true,
		Identity:       map[string]pulumi.StringInput{"eks.amazonaws.com/role-arn": store.role.Arn},
		DataIdentity:   map[string]pulumi.StringInput{"eks.amazonaws.com/role-arn": store.dataRole.Arn},
		Zones:          cfg.Zones,
		Ready:          cl.ready,
		Postgres:       pg,
	}, pulumi.Parent(f))
	if err != nil {
		return nil, err
	}
	if err := newAutoscaler(ctx, name, cfg, cl.oidc, k8s, on, pulumi.Parent(f)); err != nil {
		return nil, err
	}
	return f.Finish(ctx, cfg, k8s, cfg.Zones, pg, store.storage)
}

// policy renders an IAM policy document.
func policy(statements ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	return string(b)
}

// serviceRole is a role that an AWS service assumes, with managed policies attached.
func serviceRole(ctx *pulumi.Context, name, service string, policies []string, on pulumi.ResourceOption) (*iam.Role, []pulumi.Resource, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(policy(map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"Service": service},
		})),
	}, on)
	if err != nil {
		return nil, nil, err
	}
	var attached []pulumi.Resource
	for i, arn := range policies {
		a, err := iam.NewRolePolicyAttachment(ctx, fmt.Sprintf("%s-%d", name, i), &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.String("arn:aws:iam::aws:policy/" + arn),
		}, on)
		if err != nil {
			return nil, nil, err
		}
		attached = append(attached, a)
	}
	return role, attached, nil
}

// oidc is the cluster's identity provider: pods' service accounts assume IAM roles through it.
type oidc struct {
	arn    pulumi.StringOutput
	issuer pulumi.StringOutput
}

// podRole is a role that one Kubernetes service account assumes (IRSA).
func (o oidc) podRole(ctx *pulumi.Context, name, namespace, account string, on pulumi.ResourceOption) (*iam.Role, error) {
	assume := pulumi.All(o.arn, o.issuer).ApplyT(func(v []any) string {
		host := strings.TrimPrefix(v[1].(string), "https://")
		return policy(map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
			"Principal": map[string]any{"Federated": v[0]},
			"Condition": map[string]any{"StringEquals": map[string]any{
				host + ":sub": fmt.Sprintf("system:serviceaccount:%s:%s", namespace, account),
				host + ":aud": "sts.amazonaws.com",
			}},
		})
	}).(pulumi.StringOutput)
	return iam.NewRole(ctx, name, &iam.RoleArgs{AssumeRolePolicy: assume}, on)
}

// nodeTaint keeps everything but ClickHouse off its pool.
func nodeTaint(pool string) eks.NodeGroupTaintArray {
	if pool != "clickhouse" {
		return nil
	}
	return eks.NodeGroupTaintArray{eks.NodeGroupTaintArgs{
		Key: pulumi.String(kube.PoolLabel), Value: pulumi.String(pool), Effect: pulumi.String(config.Facts(config.AWS).TaintEffect),
	}}
}

// network is the VPC: public subnets for load balancers and NAT, private ones for everything else.
type network struct {
	vpc             *ec2.Vpc
	private, public pulumi.StringArray
	cidr            string
}

func newNetwork(ctx *pulumi.Context, name string, cfg *config.Config, on pulumi.ResourceOption) (*network, error) {
	cidr := cfg.Cluster.NetworkCIDR
	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock: pulumi.String(cidr), EnableDnsHostnames: pulumi.Bool(true), EnableDnsSupport: pulumi.Bool(true),
		Tags: pulumi.StringMap{"Name": pulumi.String(name)},
	}, on)
	if err != nil {
		return nil, err
	}
	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: vpc.ID()}, on)
	if err != nil {
		return nil, err
	}
	public, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId:  vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
	}, on)
	if err != nil {
		return nil, err
	}
	n := &network{vpc: vpc, cidr: cidr}
	// One NAT per zone in staging and prod, so a zone outage does not cut the others off.
	nats := 1
	if cfg.Environment != config.Dev {
		nats = len(cfg.Zones)
	}
	var gateways []*ec2.NatGateway
	for i, zone := range cfg.Zones {
		sub := func(kind string, cidr string, tags pulumi.StringMap) (*ec2.Subnet, error) {
			tags["Name"] = pulumi.String(fmt.Sprintf("%s-%s-%s", name, kind, zone))
			tags["kubernetes.io/cluster/"+name] = pulumi.String("shared")
			return ec2.NewSubnet(ctx, fmt.Sprintf("%s-%s-%d", name, kind, i), &ec2.SubnetArgs{
				VpcId: vpc.ID(), AvailabilityZone: pulumi.String(zone), CidrBlock: pulumi.String(cidr), Tags: tags,
			}, on)
		}
		pub, err := sub("public", cfg.Addresses().CIDR(fmt.Sprintf("public-%d", i)), pulumi.StringMap{"kubernetes.io/role/elb": pulumi.String("1")})
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId: pub.ID(), RouteTableId: public.ID(),
		}, on); err != nil {
			return nil, err
		}
		if i < nats {
			eip, err := ec2.NewEip(ctx, fmt.Sprintf("%s-nat-%d", name, i), &ec2.EipArgs{Domain: pulumi.String("vpc")}, on)
			if err != nil {
				return nil, err
			}
			nat, err := ec2.NewNatGateway(ctx, fmt.Sprintf("%s-%d", name, i), &ec2.NatGatewayArgs{
				SubnetId: pub.ID(), AllocationId: eip.ID(),
			}, on, pulumi.DependsOn([]pulumi.Resource{igw}))
			if err != nil {
				return nil, err
			}
			gateways = append(gateways, nat)
		}
		priv, err := sub("private", cfg.Addresses().CIDR(fmt.Sprintf("private-%d", i)), pulumi.StringMap{"kubernetes.io/role/internal-elb": pulumi.String("1")})
		if err != nil {
			return nil, err
		}
		routes, err := ec2.NewRouteTable(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.RouteTableArgs{
			VpcId: vpc.ID(),
			Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
				CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: gateways[i%len(gateways)].ID(),
			}},
		}, on)
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId: priv.ID(), RouteTableId: routes.ID(),
		}, on); err != nil {
			return nil, err
		}
		n.public = append(n.public, pub.ID())
		n.private = append(n.private, priv.ID())
	}
	return n, nil
}
