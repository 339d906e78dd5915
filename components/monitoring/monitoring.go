// Package monitoring watches the platform in the Prometheus operator's convention, as users of
// kube-prometheus-stack expect: a PodMonitor per metrics endpoint, one PrometheusRule with the
// platform's alerts (rules/), Grafana dashboards as ConfigMaps the Grafana sidecar loads
// (dashboards/), and the scheduled integrity check of the cold data and the backups in the
// buckets, whose results reach Prometheus through a Pushgateway. A cloud stack installs
// kube-prometheus-stack itself; on an existing cluster the operator's CRDs must be there.
package monitoring

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/config/labels"
)

// APIVersion is the Prometheus operator's API of PodMonitor and PrometheusRule.
const APIVersion = "monitoring.coreos.com/v1"

// Release is the Helm release of kube-prometheus-stack a cloud stack installs, in the
// namespace monitoring.namespace names (the one the network policies let scrape).
const Release = "kube-prometheus-stack"

// Target is a metrics endpoint of a workload's pods: Job is the job label of its series (what
// the alerts select on), App the pods' app label, Port the named container port, Path the
// HTTP path (default /metrics).
type Target struct {
	Job, App, Port, Path string
	// PodLabels are pod labels copied onto the series (a ClickHouse replica's shard), named as
	// Prometheus sanitizes them (clickhouse.posthog.com/shard becomes clickhouse_posthog_com_shard).
	PodLabels []string
	// HonorLabels keeps the job and instance labels the scraped series carry (a Pushgateway's).
	HonorLabels bool
}

// Args are the monitoring settings, what to scrape, the figures the alerts derive from, and
// where the platform runs.
type Args struct {
	Config      config.Monitoring
	Environment config.Environment
	Targets     []Target
	Rules       RuleParams
	// Integrity is the cold-data and backups check; nil leaves it out.
	Integrity *Integrity
	Placement kube.Placement
}

// Monitoring is what the stack monitors with.
type Monitoring struct {
	pulumi.ResourceState
}

// New installs kube-prometheus-stack where the stack runs its own, then the monitors, the rules,
// the dashboards, the Pushgateway and the integrity check.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("posthog-deploy:monitoring:Monitoring", name, m, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(m)
	cfg, p := args.Config, args.Placement
	objectLabels := ObjectLabels(cfg)
	after := []pulumi.ResourceOption{child}
	if cfg.Stack == config.MonitoringInstall {
		kps, err := helmv3.NewRelease(ctx, Release, &helmv3.ReleaseArgs{
			Name: pulumi.String(Release), Namespace: pulumi.String(cfg.Namespace), CreateNamespace: pulumi.Bool(true),
			Chart: pulumi.String(config.KubePrometheusStack.Name), Version: pulumi.String(config.KubePrometheusStack.Version),
			RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(config.KubePrometheusStack.Repo)},
			Values:         StackValues(cfg, args.Environment, p.StorageClass),
		}, child)
		if err != nil {
			return nil, err
		}
		after = append(after, pulumi.DependsOn([]pulumi.Resource{kps}))
	}

	targets := args.Targets
	if args.Integrity != nil {
		gw, err := newPushgateway(ctx, args.Integrity.Pushgateway, p, child)
		if err != nil {
			return nil, err
		}
		targets = append(slices.Clone(targets), PushgatewayTarget)
		if err := newIntegrity(ctx, *args.Integrity, cfg.IntegritySchedule, gw, p, child); err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		if _, err := apiextensions.NewCustomResource(ctx, t.Job, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String(APIVersion), Kind: pulumi.String("PodMonitor"),
			Metadata:    metav1.ObjectMetaArgs{Name: pulumi.String(t.Job), Namespace: p.Namespace, Labels: pulumi.ToStringMap(objectLabels)},
			OtherFields: map[string]any{"spec": PodMonitorSpec(t)},
		}, after...); err != nil {
			return nil, err
		}
	}

	groups, err := RuleGroups(args.Rules)
	if err != nil {
		return nil, err
	}
	if _, err := apiextensions.NewCustomResource(ctx, "posthog-alerts", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(APIVersion), Kind: pulumi.String("PrometheusRule"),
		Metadata:    metav1.ObjectMetaArgs{Name: pulumi.String("posthog-alerts"), Namespace: p.Namespace, Labels: pulumi.ToStringMap(objectLabels)},
		OtherFields: map[string]any{"spec": map[string]any{"groups": groups}},
	}, after...); err != nil {
		return nil, err
	}

	dashboards, err := Dashboards()
	if err != nil {
		return nil, err
	}
	for _, d := range dashboards {
		dl := maps.Clone(objectLabels)
		dl[DashboardLabel] = "1"
		if _, err := kube.NewConfigMap(ctx, "dashboard-"+d.Name, p.Namespace, pulumi.ToStringMap(dl),
			pulumi.StringMap{d.Name + ".json": pulumi.String(d.JSON)}, after...); err != nil {
			return nil, err
		}
	}
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{})
}

// DashboardLabel is the label the Grafana chart's sidecar loads dashboards by (grafana chart
// 12.11.1 values.yaml sidecar.dashboards.label, value "1" as kube-prometheus-stack 88.5.3 sets).
const DashboardLabel = "grafana_dashboard"

// ObjectLabels are the labels of every monitor, rule and dashboard: the platform's, and the
// ones the stack's Prometheus selects on.
func ObjectLabels(cfg config.Monitoring) map[string]string {
	l := map[string]string{labels.PartOf: labels.Platform}
	maps.Copy(l, cfg.Labels)
	return l
}

// PodMonitorSpec scrapes a target every 30 seconds and names its series' job after it.
func PodMonitorSpec(t Target) map[string]any {
	path := t.Path
	if path == "" {
		path = "/metrics"
	}
	spec := map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{labels.App: t.App}},
		"podMetricsEndpoints": []any{map[string]any{
			"port": t.Port, "path": path, "interval": "30s", "honorLabels": t.HonorLabels,
			// The operator's default job is <namespace>/<monitor>: the alerts select on one name.
			"relabelings": []any{map[string]any{"action": "replace", "targetLabel": "job", "replacement": t.Job}},
		}},
	}
	if len(t.PodLabels) > 0 {
		spec["podTargetLabels"] = toAny(t.PodLabels)
	}
	return spec
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// StackValues are kube-prometheus-stack's values: it selects monitors and rules in every
// namespace whatever their labels, keeps its data on volumes of the stack's class, and runs two
// replicas of Prometheus and Alertmanager outside dev.
func StackValues(cfg config.Monitoring, env config.Environment, storageClass string) pulumi.Map {
	replicas := 1
	if env != config.Dev {
		replicas = 2
	}
	claim := func(size string) pulumi.Map {
		spec := pulumi.Map{"accessModes": pulumi.ToStringArray([]string{"ReadWriteOnce"}),
			"resources": pulumi.Map{"requests": pulumi.Map{"storage": pulumi.String(size)}}}
		if storageClass != "" {
			spec["storageClassName"] = pulumi.String(storageClass)
		}
		return pulumi.Map{"volumeClaimTemplate": pulumi.Map{"spec": spec}}
	}
	storage, _ := config.Bytes(cfg.Storage)
	return pulumi.Map{
		"prometheus": pulumi.Map{"prometheusSpec": pulumi.Map{
			"ruleSelectorNilUsesHelmValues":           pulumi.Bool(false),
			"serviceMonitorSelectorNilUsesHelmValues": pulumi.Bool(false),
			"podMonitorSelectorNilUsesHelmValues":     pulumi.Bool(false),
			"probeSelectorNilUsesHelmValues":          pulumi.Bool(false),
			"retention":                               pulumi.String(fmt.Sprintf("%dd", cfg.RetentionDays)),
			// Size-based retention below the volume, so a busy month never fills it.
			"retentionSize": pulumi.String(fmt.Sprintf("%dMiB", storage*8/10>>20)),
			"replicas":      pulumi.Int(replicas),
			"storageSpec":   claim(cfg.Storage),
		}},
		"alertmanager": pulumi.Map{"alertmanagerSpec": pulumi.Map{
			"replicas": pulumi.Int(replicas),
			"storage":  claim("10Gi"),
		}},
		"grafana": pulumi.Map{
			"persistence": pulumi.Map{"enabled": pulumi.Bool(true), "size": pulumi.String("10Gi"),
				"storageClassName": pulumi.String(storageClass)},
		},
	}
}
