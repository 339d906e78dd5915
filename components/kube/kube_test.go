package kube

import (
	"slices"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/config"
)

func TestSpreadIsHardOverZonesOnlyForQuorums(t *testing.T) {
	sel := Labels("zookeeper", nil)
	for _, tc := range []struct {
		zones, hard bool
		want        []string // whenUnsatisfiable per constraint: hostname first, then zone
	}{
		{true, true, []string{"ScheduleAnyway", "DoNotSchedule"}},
		{true, false, []string{"ScheduleAnyway", "ScheduleAnyway"}},
		{false, true, []string{"ScheduleAnyway"}},
	} {
		got := spread(sel, Placement{SpreadZones: tc.zones}, tc.hard)
		if len(got) != len(tc.want) {
			t.Fatalf("zones=%v hard=%v: %d constraints, want %d", tc.zones, tc.hard, len(got), len(tc.want))
		}
		for i, c := range got {
			args := c.(corev1.TopologySpreadConstraintArgs)
			if args.WhenUnsatisfiable != pulumi.String(tc.want[i]) {
				t.Errorf("zones=%v hard=%v: constraint %d is %v, want %s", tc.zones, tc.hard, i, args.WhenUnsatisfiable, tc.want[i])
			}
		}
		if tc.zones && got[1].(corev1.TopologySpreadConstraintArgs).TopologyKey != pulumi.String(ZoneKey) {
			t.Errorf("second constraint is not on %s", ZoneKey)
		}
	}
}

func TestSidecarsSeeTheDataVolumeOnlyWhenTheyShareIt(t *testing.T) {
	res := Resources{CPU: "1", Memory: "1Gi"}
	got := sidecars([]Container{
		{Name: "backup", Image: config.Image{Ref: "a:1"}, Resources: res, SharesData: true},
		{Name: "metrics", Image: config.Image{Ref: "b:1"}, Resources: res},
	}, "/var/lib/clickhouse")
	c := got[0].(corev1.ContainerArgs)
	mounts, _ := c.VolumeMounts.(corev1.VolumeMountArray)
	if len(mounts) != 1 {
		t.Fatalf("the backup agent has mounts %v, want the data volume", c.VolumeMounts)
	}
	m := mounts[0].(corev1.VolumeMountArgs)
	if c.Name != pulumi.String("backup") || m.Name != pulumi.String("data") || m.MountPath != pulumi.String("/var/lib/clickhouse") {
		t.Errorf("sidecar = %v with mount %v", c.Name, m)
	}
	if e := got[1].(corev1.ContainerArgs); e.VolumeMounts != nil {
		if ms, _ := e.VolumeMounts.(corev1.VolumeMountArray); len(ms) > 0 {
			t.Errorf("the exporter mounts %v: it must not see the data", ms)
		}
	}
}

func TestResourcesLimitMemoryToTheRequest(t *testing.T) {
	r := Resources{CPU: "500m", Memory: "2Gi"}.args()
	limits := r.Limits.(pulumi.StringMap)
	if limits["memory"] != pulumi.String("2Gi") || limits["cpu"] != nil {
		t.Errorf("limits = %v: memory equal to the request, CPU unlimited", limits)
	}
}

func TestHashChangesWithContent(t *testing.T) {
	if Hash("a") == Hash("b") || Hash("a", "b") != Hash("ab") || len(Hash("x")) != 16 {
		t.Error("Hash must be a 16-character digest of the concatenated parts")
	}
}

func TestContainersRunAsTheImagesUser(t *testing.T) {
	c := Container{Image: config.Image{Ref: "zookeeper:3.8.6", User: config.User{UID: 1000, GID: 1000}}}.args("zk")
	sc := c.SecurityContext.(corev1.SecurityContextArgs)
	if sc.RunAsUser != pulumi.Int(1000) || sc.RunAsGroup != pulumi.Int(1000) || sc.RunAsNonRoot != pulumi.Bool(true) {
		t.Errorf("securityContext = %+v: run as the image's numeric user, never root", sc)
	}
	pod := podSecurity(config.Image{User: config.User{UID: 1000, GID: 1000}}).(corev1.PodSecurityContextArgs)
	if pod.FsGroup != pulumi.Int(1000) {
		t.Errorf("fsGroup = %v: a new volume is root's; the image's group must be able to write it", pod.FsGroup)
	}
	// An image whose user has no fixed uid (PostHog's) keeps its own user.
	named := Container{Image: config.Image{Ref: "posthog/posthog:release-1.43.0"}}.args("web").SecurityContext.(corev1.SecurityContextArgs)
	if named.RunAsUser != nil || named.RunAsNonRoot != nil || podSecurity(config.Image{}) != nil {
		t.Errorf("securityContext = %+v: an image without a numeric user must keep its own", named)
	}
}

func TestFileMountKeepsTheRestOfTheDirectory(t *testing.T) {
	c := Container{Image: config.Image{Ref: "a:1"}, Mounts: []Mount{{Volume: "config", Path: "/conf", File: "zoo.cfg"}}}.args("zk")
	m := c.VolumeMounts.(corev1.VolumeMountArray)[0].(corev1.VolumeMountArgs)
	if m.MountPath != pulumi.String("/conf/zoo.cfg") || m.SubPath != pulumi.String("zoo.cfg") {
		t.Errorf("mount = %+v: one file, by subPath, so the image's other files in /conf stay", m)
	}
}

func TestPatientStartupWindow(t *testing.T) {
	p := Patient(HTTPProbe("/_health", "http", 30), 900)
	if p.PeriodSeconds != pulumi.Int(10) || p.FailureThreshold != pulumi.Int(90) {
		t.Errorf("startup probe = every %v, %v failures: want 900 s", p.PeriodSeconds, p.FailureThreshold)
	}
}

// TestPodHostsAreTheHeadlessServicesNames: a StatefulSet's pod is reachable as
// <set>-<ordinal>.<headless service>.<namespace>.svc.cluster.local, the names clients are given.
func TestPodHostsAreTheHeadlessServicesNames(t *testing.T) {
	got := PodHosts("kafka", 2, "ph")
	want := []string{"kafka-0.kafka.ph.svc.cluster.local", "kafka-1.kafka.ph.svc.cluster.local"}
	if !slices.Equal(got, want) {
		t.Errorf("PodHosts = %v, want %v", got, want)
	}
	if e := (Endpoint{Hosts: got, Port: 9092}); !slices.Equal(e.Addresses(), []string{want[0] + ":9092", want[1] + ":9092"}) {
		t.Errorf("Addresses = %v", e.Addresses())
	}
}

// A pod that runs as its own service account carries the cloud's identity labels, which never
// reach the selector it was given (a StatefulSet's selector cannot change).
func TestIdentityLabelsOnlyOnPodsWithAnAccount(t *testing.T) {
	sel := Labels("clickhouse", nil)
	p := Placement{IdentityLabels: map[string]string{"azure.workload.identity/use": "true"}}
	with := p.podLabels(sel, "posthog-storage")
	if with["azure.workload.identity/use"] != pulumi.String("true") || with["app.kubernetes.io/name"] == nil {
		t.Errorf("labels of a pod with an account: %v", with)
	}
	if _, ok := sel["azure.workload.identity/use"]; ok {
		t.Error("the identity label was added to the selector itself")
	}
	if without := p.podLabels(sel, ""); len(without) != len(sel) {
		t.Errorf("a pod on the default account got %v", without)
	}
}
