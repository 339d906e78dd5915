package zookeeper

import (
	"slices"
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
	got := lines(Config(zk, Members(zk.Replicas, "ph"), DataDir, ClientPort))
	for k, want := range map[string]string{
		"dataDir":                   "/data",
		"clientPort":                "2181",
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
	got := lines(Config(zk, Members(zk.Replicas, "ph"), DataDir, ClientPort))
	if got["standaloneEnabled"] != "true" || got["server.1"] == "" {
		t.Errorf("dev ensemble: %v", got)
	}
	if got["autopurge.purgeInterval"] == "0" || got["autopurge.purgeInterval"] == "" {
		t.Errorf("autopurge off in dev: %v", got)
	}
}

// TestProbesDoNotStartASecondJVM: `zkServer.sh status` starts a JVM with the server's heap flags
// inside the server's memory limit; the probes speak the four-letter words instead.
func TestProbesDoNotStartASecondJVM(t *testing.T) {
	for _, script := range []string{ReadyScript(2181), LiveScript(2181)} {
		if strings.Contains(script, "zkServer.sh") || strings.Contains(script, "java") || !strings.Contains(script, "/dev/tcp/127.0.0.1/2181") {
			t.Errorf("probe %q", script)
		}
	}
	for _, word := range []string{"srvr", "ruok"} {
		if !slices.Contains(FourLetterWords, word) {
			t.Errorf("the probes use %s, which the allow-list does not serve", word)
		}
	}
	if !strings.Contains(StartScript(), "start-foreground /conf/zoo.cfg") || !strings.Contains(StartScript(), "> /data/myid") {
		t.Errorf("start script %q", StartScript())
	}
}
