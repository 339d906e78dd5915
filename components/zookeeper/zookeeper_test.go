package zookeeper

import (
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config"
)

func lines(cfg string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(cfg), "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

func TestConfigHasAutopurgeAndEnsemble(t *testing.T) {
	zk := config.Defaults(config.Local, config.Prod).ZooKeeper
	zk.PurgeIntervalHours, zk.SnapRetainCount = 6, 7
	got := lines(Config(zk, "ph"))
	for k, want := range map[string]string{
		"autopurge.purgeInterval":   "6",
		"autopurge.snapRetainCount": "7",
		"4lw.commands.whitelist":    "ruok,srvr,mntr",
		"standaloneEnabled":         "false",
		"server.1":                  "zookeeper-0.zookeeper.ph.svc.cluster.local:2888:3888;2181",
		"server.3":                  "zookeeper-2.zookeeper.ph.svc.cluster.local:2888:3888;2181",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, ok := got["server.4"]; ok {
		t.Errorf("3-node ensemble lists a 4th server")
	}
}

func TestSingleNodeIsStandalone(t *testing.T) {
	zk := config.Defaults(config.Local, config.Dev).ZooKeeper
	got := lines(Config(zk, "ph"))
	if got["standaloneEnabled"] != "true" || got["server.1"] == "" {
		t.Errorf("dev ensemble: %v", got)
	}
	if got["autopurge.purgeInterval"] == "0" || got["autopurge.purgeInterval"] == "" {
		t.Errorf("autopurge off in dev: %v", got)
	}
}
