package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// AutoscalerAccount is the Kubernetes service account Cluster Autoscaler runs as in kube-system,
// the one its IRSA role trusts.
const AutoscalerAccount = "cluster-autoscaler"

// AutoscalerActions are what Cluster Autoscaler reads (anything), and what it changes: only the
// Auto Scaling groups EKS tagged for this cluster's managed node groups
// (cloudprovider/aws/README.md at cluster-autoscaler-1.36.1, "Full Cluster Autoscaler Features").
var (
	AutoscalerReads = []string{"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
		"autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities", "ec2:DescribeImages",
		"ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
		"eks:DescribeNodegroup"}
	AutoscalerWrites = []string{"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
)

// newAutoscaler installs Cluster Autoscaler, which grows a managed node group up to its max when
// pods are pending and shrinks it to its min when nodes idle: EKS's managed node groups do
// neither by themselves.
func newAutoscaler(ctx *pulumi.Context, name string, cfg *config.Config, o oidc, k8s *foundation.Cluster,
	on pulumi.ResourceOption, parent pulumi.ResourceOption) error {
	role, err := o.podRole(ctx, name+"-cluster-autoscaler", "kube-system", AutoscalerAccount, on)
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-cluster-autoscaler", &iam.RolePolicyArgs{
		Role: role.Name,
		Policy: pulumi.String(policy(
			map[string]any{"Effect": "Allow", "Action": AutoscalerReads, "Resource": "*"},
			map[string]any{"Effect": "Allow", "Action": AutoscalerWrites, "Resource": "*",
				"Condition": map[string]any{"Null": map[string]any{"aws:ResourceTag/k8s.io/cluster-autoscaler/" + name: "false"}}},
		)),
	}, on); err != nil {
		return err
	}
	chart := config.ClusterAutoscaler
	image, ok := config.ClusterAutoscalerImages[cfg.Cluster.Version]
	if !ok {
		return fmt.Errorf("posthog-deploy:cluster.version: no cluster-autoscaler release is pinned for Kubernetes %s (config.ClusterAutoscalerImages)",
			cfg.Cluster.Version)
	}
	_, err = helmv3.NewRelease(ctx, "cluster-autoscaler", &helmv3.ReleaseArgs{
		Name: pulumi.String("cluster-autoscaler"), Namespace: pulumi.String("kube-system"),
		Chart: pulumi.String(chart.Name), Version: pulumi.String(chart.Version),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(chart.Repo)},
		Values: pulumi.Map{
			"cloudProvider": pulumi.String("aws"),
			"awsRegion":     pulumi.String(cfg.Region),
			"autoDiscovery": pulumi.Map{"clusterName": pulumi.String(name)},
			"image":         pulumi.Map{"tag": pulumi.String(image)},
			"rbac": pulumi.Map{"serviceAccount": pulumi.Map{
				"name":        pulumi.String(AutoscalerAccount),
				"annotations": pulumi.StringMap{"eks.amazonaws.com/role-arn": role.Arn},
			}},
			// The node groups span the zones alike: keep them level (EKS's managed node group docs).
			"extraArgs": pulumi.Map{"balance-similar-node-groups": pulumi.Bool(true)},
		},
	}, parent, pulumi.Provider(k8s.Provider))
	return err
}
