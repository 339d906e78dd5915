package kube

import (
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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

func TestSidecarsSeeTheDataVolume(t *testing.T) {
	got := sidecars([]Container{{Name: "backup", Image: "a:1", Resources: Resources{CPU: "1", Memory: "1Gi"}}}, "/var/lib/clickhouse")
	c := got[0].(corev1.ContainerArgs)
	mounts := c.VolumeMounts.(corev1.VolumeMountArray)
	m := mounts[0].(corev1.VolumeMountArgs)
	if c.Name != pulumi.String("backup") || m.Name != pulumi.String("data") || m.MountPath != pulumi.String("/var/lib/clickhouse") {
		t.Errorf("sidecar = %v with mount %v", c.Name, m)
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
