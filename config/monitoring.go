package config

import (
	"fmt"
	"regexp"
	"time"

	"github.com/robfig/cron/v3"
)

// Monitoring is the platform's metrics, alerts and dashboards in the Prometheus operator's
// convention (PodMonitor and PrometheusRule objects, Grafana dashboards as labelled ConfigMaps),
// the exporters of the data services, and the scheduled integrity check of the cold data and
// the backups in the buckets.
type Monitoring struct {
	Enabled bool `json:"enabled"`
	// Stack is who runs the Prometheus operator, Prometheus, Alertmanager and Grafana:
	// MonitoringInstall (the stack installs kube-prometheus-stack; the clouds' default) or
	// MonitoringExisting (the cluster already runs them, with the operator's CRDs).
	Stack string `json:"stack"`
	// Namespace is where Prometheus runs: the network policies let it scrape the metrics ports.
	Namespace string `json:"namespace"`
	// Labels go on every monitor, rule and dashboard, for an existing Prometheus whose selectors
	// need them (kube-prometheus-stack selects release: <its release> unless told otherwise).
	Labels map[string]string `json:"labels"`
	// BackupSlackHours is how late past its schedule a backup may be before the alert fires.
	BackupSlackHours int `json:"backupSlackHours"`
	// IntegritySchedule is the cron schedule (UTC) of the cold-data and backups integrity check.
	IntegritySchedule string `json:"integritySchedule"`
	// RetentionDays and Storage size the Prometheus the stack installs.
	RetentionDays int    `json:"retentionDays"`
	Storage       string `json:"storage"`
}

// Who runs the Prometheus operator (Monitoring.Stack).
const (
	MonitoringInstall  = "install"
	MonitoringExisting = "existing"
)

var (
	labelKey   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
)

// monitoringDefaults: on in staging and prod; a cloud stack installs its own Prometheus, the
// local stack (an existing cluster) expects one.
func monitoringDefaults(cloud Cloud, env Environment) Monitoring {
	stack := MonitoringInstall
	if Facts(cloud).StandIns {
		stack = MonitoringExisting
	}
	return Monitoring{
		Enabled:           env != Dev,
		Stack:             stack,
		Namespace:         "monitoring",
		BackupSlackHours:  6,
		IntegritySchedule: "30 */6 * * *",
		RetentionDays:     choose(env == Prod, 15, 30),
		Storage:           choose(env == Prod, "50Gi", "100Gi"),
	}
}

// validateMonitoring checks the monitoring block.
func (c *Config) validateMonitoring(check func(bool, string, any, string)) {
	m := c.Monitoring
	check(m.Stack == MonitoringInstall || m.Stack == MonitoringExisting, "monitoring.stack", quote(m.Stack),
		fmt.Sprintf("must be %q (the stack installs kube-prometheus-stack) or %q (the cluster runs the Prometheus operator)",
			MonitoringInstall, MonitoringExisting))
	check(m.Stack != MonitoringInstall || !Facts(c.Cloud).StandIns, "monitoring.stack", quote(m.Stack),
		"must be \"existing\" on local: kube-prometheus-stack is a Helm chart, which the local stack does not install")
	check(dnsLabel.MatchString(m.Namespace), "monitoring.namespace", quote(m.Namespace), "must be the namespace Prometheus runs in (a DNS label)")
	for k, v := range m.Labels {
		check(labelKey.MatchString(k) && labelValue.MatchString(v), "monitoring.labels."+k, quote(v),
			"must be a Kubernetes label: a key such as release or example.com/team, a value of at most 63 letters, digits, '-', '_', '.'")
	}
	check(m.BackupSlackHours >= 1 && m.BackupSlackHours <= 48, "monitoring.backupSlackHours", m.BackupSlackHours, "must be from 1 to 48")
	_, err := CronGap(m.IntegritySchedule)
	check(err == nil, "monitoring.integritySchedule", quote(m.IntegritySchedule), fmt.Sprintf("must be a cron schedule of five fields, such as \"30 */6 * * *\" (%v)", err))
	check(m.RetentionDays >= 2 && m.RetentionDays <= 365, "monitoring.retentionDays", m.RetentionDays,
		"must be from 2 to 365 (the backup alerts compare with a day ago)")
	check(quantity.MatchString(m.Storage), "monitoring.storage", quote(m.Storage), "must be a size such as 100Gi")
}

// CronGap is the longest time between two runs of a cron schedule (five fields, UTC), as
// Kubernetes' CronJob controller reads it (it parses schedules with robfig/cron/v3 too): the
// longest a healthy schedule leaves without a run, from which the alerts on late backups and
// late checks derive. It looks at a whole leap year of runs.
func CronGap(schedule string) (time.Duration, error) {
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return 0, err
	}
	from := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	end := from.AddDate(1, 0, 7)
	var gap time.Duration
	prev := s.Next(from)
	if prev.IsZero() || prev.After(end) {
		return 0, fmt.Errorf("the schedule never runs")
	}
	for t := s.Next(prev); !t.IsZero() && !t.After(end); prev, t = t, s.Next(t) {
		gap = max(gap, t.Sub(prev))
	}
	if gap == 0 {
		return 0, fmt.Errorf("the schedule runs once a year or less")
	}
	return gap, nil
}
