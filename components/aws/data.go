package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// cluster is the EKS cluster, how to reach it, and what must exist before workloads.
type cluster struct {
	kubeconfig pulumi.StringOutput
	oidc       oidc
	ready      []pulumi.Resource
}

// ClusterAdminPolicy is the EKS access policy cluster.admins get, on the whole cluster.
const ClusterAdminPolicy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

func newCluster(ctx *pulumi.Context, name string, cfg *config.Config, net *network, key *kms.Key, on pulumi.ResourceOption) (*cluster, error) {
	role, attached, err := serviceRole(ctx, name+"-cluster", "eks.amazonaws.com", []string{"AmazonEKSClusterPolicy"}, on)
	if err != nil {
		return nil, err
	}
	// The cluster's role uses the key that envelope-encrypts its Secrets (terraform-aws-eks v21.19.0
	// main.tf, cluster_encryption: the same four actions on the key alone).
	encryption, err := iam.NewRolePolicy(ctx, name+"-cluster-encryption", &iam.RolePolicyArgs{
		Role: role.Name,
		Policy: key.Arn.ApplyT(func(arn string) string {
			return policy(map[string]any{"Effect": "Allow", "Resource": arn,
				"Action": []string{"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"}})
		}).(pulumi.StringOutput),
	}, on)
	if err != nil {
		return nil, err
	}
	attached = append(attached, encryption)
	// EKS's own list: the version config allows must be one it offers in standard support now
	// (extended support costs more, and ends).
	version := eks.GetClusterVersionsOutput(ctx, eks.GetClusterVersionsOutputArgs{
		ClusterVersionsOnlies: pulumi.ToStringArray([]string{cfg.Cluster.Version}), VersionStatus: pulumi.String("STANDARD_SUPPORT"),
	}).ApplyT(func(r eks.GetClusterVersionsResult) (string, error) {
		if len(r.ClusterVersions) == 0 {
			return "", fmt.Errorf("posthog-deploy:cluster.version: EKS no longer offers %s in standard support "+
				"(aws eks describe-cluster-versions --version-status STANDARD_SUPPORT): choose a newer version", cfg.Cluster.Version)
		}
		return r.ClusterVersions[0].ClusterVersion, nil
	}).(pulumi.StringOutput)
	eksCluster, err := eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Name:    pulumi.String(name),
		Version: version,
		RoleArn: role.Arn,
		VpcConfig: eks.ClusterVpcConfigArgs{
			SubnetIds:             append(append(pulumi.StringArray{}, net.private...), net.public...),
			EndpointPrivateAccess: pulumi.Bool(true),
			EndpointPublicAccess:  pulumi.Bool(true),
			PublicAccessCidrs:     pulumi.ToStringArray(cfg.Cluster.APIAllowedCIDRs),
		},
		EncryptionConfig: eks.ClusterEncryptionConfigArgs{
			Provider:  eks.ClusterEncryptionConfigProviderArgs{KeyArn: key.Arn},
			Resources: pulumi.ToStringArray([]string{"secrets"}),
		},
		AccessConfig: eks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String("API"),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		EnabledClusterLogTypes: pulumi.ToStringArray([]string{"api", "audit", "authenticator"}),
	}, on, pulumi.DependsOn(attached))
	if err != nil {
		return nil, err
	}
	// Whoever created the cluster is its admin (bootstrap); the principals config names (CI, the
	// team) get the same through access entries, so that the next `pulumi up` need not be theirs.
	for i, admin := range cfg.Cluster.Admins {
		entry, err := eks.NewAccessEntry(ctx, fmt.Sprintf("%s-admin-%d", name, i), &eks.AccessEntryArgs{
			ClusterName: eksCluster.Name, PrincipalArn: pulumi.String(admin), Type: pulumi.String("STANDARD"),
		}, on)
		if err != nil {
			return nil, err
		}
		if _, err := eks.NewAccessPolicyAssociation(ctx, fmt.Sprintf("%s-admin-%d", name, i), &eks.AccessPolicyAssociationArgs{
			ClusterName: eksCluster.Name, PrincipalArn: entry.PrincipalArn, PolicyArn: pulumi.String(ClusterAdminPolicy),
			AccessScope: eks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")},
		}, on); err != nil {
			return nil, err
		}
	}
	issuer := eksCluster.Identities.Index(pulumi.Int(0)).Oidcs().Index(pulumi.Int(0)).Issuer().Elem()
	provider, err := iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:           issuer,
		ClientIdLists: pulumi.ToStringArray([]string{"sts.amazonaws.com"}),
	}, on)
	if err != nil {
		return nil, err
	}
	c := &cluster{oidc: oidc{arn: provider.Arn, issuer: issuer}}

	nodeRole, nodePolicies, err := serviceRole(ctx, name+"-nodes", "ec2.amazonaws.com",
		[]string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}, on)
	if err != nil {
		return nil, err
	}
	for _, pool := range foundation.Pools(cfg) {
		ng, err := eks.NewNodeGroup(ctx, name+"-"+pool.Name, &eks.NodeGroupArgs{
			ClusterName:   eksCluster.Name,
			NodeGroupName: pulumi.String(pool.Name),
			NodeRoleArn:   nodeRole.Arn,
			SubnetIds:     net.private,
			InstanceTypes: pulumi.ToStringArray([]string{pool.MachineType}),
			ScalingConfig: eks.NodeGroupScalingConfigArgs{
				MinSize: pulumi.Int(pool.Min), MaxSize: pulumi.Int(pool.Max), DesiredSize: pulumi.Int(pool.Min),
			},
			Labels:       pulumi.ToStringMap(pool.Labels),
			Taints:       nodeTaint(pool.Name),
			UpdateConfig: eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
		}, on, pulumi.DependsOn(nodePolicies), pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"}))
		if err != nil {
			return nil, err
		}
		c.ready = append(c.ready, ng)
	}
	// Volumes come from the EBS CSI driver, which acts with its own IRSA role.
	csiRole, err := c.oidc.podRole(ctx, name+"-ebs-csi", "kube-system", "ebs-csi-controller-sa", on)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-ebs-csi", &iam.RolePolicyAttachmentArgs{
		Role: csiRole.Name, PolicyArn: pulumi.String("arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"),
	}, on); err != nil {
		return nil, err
	}
	csi, err := eks.NewAddon(ctx, name+"-ebs-csi", &eks.AddonArgs{
		ClusterName: eksCluster.Name, AddonName: pulumi.String("aws-ebs-csi-driver"),
		ServiceAccountRoleArn: csiRole.Arn, ResolveConflictsOnUpdate: pulumi.String("PRESERVE"),
	}, on, pulumi.DependsOn(c.ready))
	if err != nil {
		return nil, err
	}
	c.ready = append(c.ready, csi)
	c.kubeconfig = foundation.ExecKubeconfig(name, eksCluster.Endpoint, eksCluster.CertificateAuthority.Data().Elem(),
		"aws", "eks", "get-token", "--cluster-name", name, "--region", cfg.Region)
	return c, nil
}

func newPostgres(ctx *pulumi.Context, name string, cfg *config.Config, net *network, key *kms.Key, on pulumi.ResourceOption,
	keep []pulumi.ResourceOption) (foundation.Postgres, error) {
	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{SubnetIds: net.private}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	sg, err := ec2.NewSecurityGroup(ctx, name+"-postgres", &ec2.SecurityGroupArgs{
		VpcId:       net.vpc.ID(),
		Description: pulumi.String("PostgreSQL from inside the VPC only"),
		Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(5432), ToPort: pulumi.Int(5432),
			CidrBlocks: pulumi.ToStringArray([]string{net.cidr}),
		}},
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	pg := cfg.Postgres
	// The server refuses connections without TLS too (PostgreSQL 14 on RDS allows them by default).
	params, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String("postgres" + pg.Version),
		Description: pulumi.String("PostHog's PostgreSQL: TLS only"),
		Parameters: rds.ParameterGroupParameterArray{rds.ParameterGroupParameterArgs{
			Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1"),
		}},
	}, on)
	if err != nil {
		return foundation.Postgres{}, err
	}
	size, _ := config.Bytes(pg.Storage)
	db := foundation.PostgresDatabase
	dev := cfg.Environment == config.Dev
	instance, err := rds.NewInstance(ctx, name, &rds.InstanceArgs{
		ParameterGroupName:      params.Name,
		Identifier:              pulumi.String(name),
		Engine:                  pulumi.String("postgres"),
		EngineVersion:           pulumi.String(pg.Version),
		InstanceClass:           pulumi.String(pg.InstanceClass),
		AllocatedStorage:        pulumi.Int(int(size >> 30)),
		MaxAllocatedStorage:     pulumi.Int(int(size>>30) * 4),
		StorageType:             pulumi.String("gp3"),
		StorageEncrypted:        pulumi.Bool(true),
		KmsKeyId:                key.Arn,
		DbName:                  pulumi.String(db.Name),
		Username:                pulumi.String(db.User),
		Password:                cfg.Secrets.PostgresPassword,
		DbSubnetGroupName:       subnets.Name,
		VpcSecurityGroupIds:     pulumi.StringArray{sg.ID()},
		PubliclyAccessible:      pulumi.Bool(false),
		MultiAz:                 pulumi.Bool(pg.HighAvailability),
		BackupRetentionPeriod:   pulumi.Int(pg.BackupRetentionDays),
		BackupWindow:            pulumi.String("03:00-04:00"),
		MaintenanceWindow:       pulumi.String("sun:04:30-sun:05:30"),
		CopyTagsToSnapshot:      pulumi.Bool(true),
		DeleteAutomatedBackups:  pulumi.Bool(dev),
		DeletionProtection:      pulumi.Bool(!dev),
		SkipFinalSnapshot:       pulumi.Bool(dev),
		FinalSnapshotIdentifier: pulumi.String(name + "-final"),
		AutoMinorVersionUpgrade: pulumi.Bool(true),
		ApplyImmediately:        pulumi.Bool(false),
	}, keep...)
	if err != nil {
		return foundation.Postgres{}, err
	}
	endpoint := db.At(instance.Address, cfg.Secrets.PostgresPassword)
	endpoint.Ready = []pulumi.Resource{instance}
	// RDS signs every instance's certificate with one regional CA, so the host name is checked
	// too; the bundle is published as a file only.
	endpoint.TLS = foundation.PostgresTLS{Mode: "verify-full", CAURL: rdsCABundle(cfg.Region)}
	return endpoint, nil
}

// rdsCABundle is where AWS publishes the certificate authorities of RDS in a region.
func rdsCABundle(region string) string {
	return fmt.Sprintf("https://truststore.pki.rds.amazonaws.com/%s/%s-bundle.pem", region, region)
}

// BucketActions are what the buckets' IRSA role may do. Deleting an object leaves a delete marker
// and keeps its old version until the lifecycle rule expires it: the role has neither
// s3:DeleteObjectVersion nor s3:GetBucketVersioning. Without the latter, clickhouse-backup (v2.6.30
// pkg/storage/s3.go, deleteKey) sees versioning as off and deletes an expired backup with plain
// deletes instead of deleting every version, which it would otherwise try (and be refused).
// s3:AbortMultipartUpload lets it abandon a failed multipart copy.
var BucketActions = []string{"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
	"s3:AbortMultipartUpload"}

// store is the buckets and the role pods assume to use them.
type store struct {
	storage foundation.ObjectStorage
	// role is ClickHouse's (both buckets), dataRole PostHog's (the data bucket).
	role, dataRole *iam.Role
}

func newBuckets(ctx *pulumi.Context, cfg *config.Config, o oidc, keep []pulumi.ResourceOption, on pulumi.ResourceOption) (*store, error) {
	data, backups := cfg.ObjectStore.Buckets()
	var arns []pulumi.StringOutput
	for _, b := range []string{data, backups} {
		bucket, err := s3.NewBucketV2(ctx, b, &s3.BucketV2Args{Bucket: pulumi.String(b), ForceDestroy: pulumi.Bool(foundation.Disposable(cfg))}, keep...)
		if err != nil {
			return nil, err
		}
		if err := secureBucket(ctx, b, bucket, cfg.ObjectStore.NoncurrentVersionDays, keep); err != nil {
			return nil, err
		}
		arns = append(arns, bucket.Arn)
	}
	// Two roles: ClickHouse's (its cold tier on the data bucket, its backups, the integrity check)
	// on both buckets; PostHog's on the data bucket alone.
	bucketRole := func(name, account string, buckets ...pulumi.StringOutput) (*iam.Role, error) {
		role, err := o.podRole(ctx, name, cfg.Namespace, account, on)
		if err != nil {
			return nil, err
		}
		var in []any
		for _, b := range buckets {
			in = append(in, b)
		}
		access := pulumi.All(in...).ApplyT(func(v []any) string {
			var resources []string
			for _, arn := range v {
				resources = append(resources, arn.(string), arn.(string)+"/*")
			}
			return policy(map[string]any{"Effect": "Allow", "Action": BucketActions, "Resource": resources})
		}).(pulumi.StringOutput)
		_, err = iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{Role: role.Name, Policy: access}, on)
		return role, err
	}
	role, err := bucketRole("posthog-storage", foundation.StorageAccountName, arns[0], arns[1])
	if err != nil {
		return nil, err
	}
	dataRole, err := bucketRole("posthog-objects", foundation.DataAccountName, arns[0])
	if err != nil {
		return nil, err
	}
	return &store{role: role, dataRole: dataRole, storage: foundation.ObjectStorage{
		API:                config.S3,
		Endpoint:           fmt.Sprintf("https://s3.%s.amazonaws.com", cfg.Region),
		Region:             cfg.Region,
		Buckets:            foundation.Buckets{Data: data, Backups: backups},
		ServiceAccount:     foundation.StorageAccountName,
		DataServiceAccount: foundation.DataAccountName,
	}}, nil
}

// secureBucket is what every S3 bucket gets: versioning, no public access, owner-only objects,
// encryption at rest and an expiry for old versions.
func secureBucket(ctx *pulumi.Context, name string, b *s3.BucketV2, noncurrentDays int, keep []pulumi.ResourceOption) error {
	if _, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  b.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, keep...); err != nil {
		return err
	}
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket: b.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, keep...); err != nil {
		return err
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: b.ID(), Rule: s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, keep...); err != nil {
		return err
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: b.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, keep...); err != nil {
		return err
	}
	_, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: b.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
			Id: pulumi.String("expire-old-versions"), Status: pulumi.String("Enabled"),
			Filter:                      s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
			NoncurrentVersionExpiration: s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(noncurrentDays)},
			AbortIncompleteMultipartUpload: s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(7),
			},
		}},
	}, keep...)
	return err
}
