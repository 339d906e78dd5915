package clickhouse

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
)

// server is the part of config.d/posthog.xml the tests read back.
type server struct {
	RemoteServers struct {
		Cluster []struct {
			XMLName xml.Name
			Shards  []struct {
				InternalReplication bool `xml:"internal_replication"`
				Replicas            []struct {
					Host string `xml:"host"`
					Port int    `xml:"port"`
				} `xml:"replica"`
			} `xml:"shard"`
		} `xml:",any"`
	} `xml:"remote_servers"`
	ZooKeeper struct {
		Nodes []struct {
			Host string `xml:"host"`
		} `xml:"node"`
		Root string `xml:"root"`
	} `xml:"zookeeper"`
	MergeTree struct {
		ZeroCopy *int `xml:"allow_remote_fs_zero_copy_replication"`
	} `xml:"merge_tree"`
	InterserverHost string `xml:"interserver_http_host"`
	Macros          struct {
		Cluster string `xml:"cluster"`
		Shard   string `xml:"shard"`
		Replica string `xml:"replica"`
	} `xml:"macros"`
}

func parse(t *testing.T, doc string) server {
	t.Helper()
	var s server
	if err := xml.Unmarshal([]byte(doc), &s); err != nil {
		t.Fatalf("not valid XML: %v\n%s", err, doc)
	}
	return s
}

func TestTopologyTwoByTwo(t *testing.T) {
	topo := NewTopology("posthog", 2, 2, "ph")
	var names []string
	for _, r := range topo.Replicas() {
		names = append(names, r.Name)
	}
	if got, want := strings.Join(names, " "), "chi-posthog-0-0 chi-posthog-0-1 chi-posthog-1-0 chi-posthog-1-1"; got != want {
		t.Fatalf("replicas = %s, want %s", got, want)
	}
	if h := topo.Shards[1][0].Host; h != "chi-posthog-1-0.ph.svc.cluster.local" {
		t.Errorf("host = %s", h)
	}
}

func TestRemoteServersListEveryReplica(t *testing.T) {
	topo := NewTopology("posthog", 2, 2, "ph")
	s := parse(t, ServerConfig(topo, []string{"zk-0", "zk-1", "zk-2"}, 2181))
	if len(s.RemoteServers.Cluster) != 1 || s.RemoteServers.Cluster[0].XMLName.Local != "posthog" {
		t.Fatalf("remote_servers = %+v, want one cluster named posthog", s.RemoteServers)
	}
	shards := s.RemoteServers.Cluster[0].Shards
	if len(shards) != 2 {
		t.Fatalf("%d shards, want 2", len(shards))
	}
	for si, shard := range shards {
		if !shard.InternalReplication {
			t.Errorf("shard %d: internal_replication off: inserts would be written twice", si)
		}
		if len(shard.Replicas) != 2 {
			t.Fatalf("shard %d has %d replicas", si, len(shard.Replicas))
		}
		for ri, r := range shard.Replicas {
			if want := topo.Shards[si][ri].Host; r.Host != want || r.Port != NativePort {
				t.Errorf("shard %d replica %d = %s:%d, want %s:%d", si, ri, r.Host, r.Port, want, NativePort)
			}
		}
	}
	// ClickHouse refuses to start on a <root> znode that does not exist, and nothing creates one.
	if len(s.ZooKeeper.Nodes) != 3 || s.ZooKeeper.Root != "" {
		t.Errorf("zookeeper = %+v: three nodes, no root", s.ZooKeeper)
	}
	if s.MergeTree.ZeroCopy == nil || *s.MergeTree.ZeroCopy != 0 {
		t.Errorf("allow_remote_fs_zero_copy_replication must be set explicitly to 0, got %v", s.MergeTree.ZeroCopy)
	}
}

func TestMacrosMatchRemoteServers(t *testing.T) {
	topo := NewTopology("posthog", 2, 2, "ph")
	seen := map[string]bool{}
	for _, r := range topo.Replicas() {
		s := parse(t, ReplicaConfig(topo, r, nil))
		if s.Macros.Cluster != "posthog" || s.Macros.Shard != fmt.Sprint(r.Shard) || s.Macros.Replica != r.Name {
			t.Errorf("%s: macros = %+v", r.Name, s.Macros)
		}
		if s.InterserverHost != r.Host {
			t.Errorf("%s: interserver_http_host = %s, want %s", r.Name, s.InterserverHost, r.Host)
		}
		key := s.Macros.Shard + "/" + s.Macros.Replica
		if seen[key] {
			t.Errorf("two replicas share macros %s: they would overwrite each other in ZooKeeper", key)
		}
		seen[key] = true
	}
}

func TestProfilesEnableOnlyAllowedExperimentalSettings(t *testing.T) {
	if p := ProfilesConfig(nil); strings.Contains(p, "allow_experimental") || strings.Contains(p, "zero_copy") {
		t.Errorf("default profile enables an experimental setting:\n%s", p)
	}
	p := ProfilesConfig([]string{"allow_experimental_object_type"})
	if !strings.Contains(p, "<allow_experimental_object_type>1</allow_experimental_object_type>") {
		t.Errorf("allowed setting missing:\n%s", p)
	}
	if strings.Count(p, "allow_experimental") != 2 {
		t.Errorf("only the allowed setting may appear:\n%s", p)
	}
}

func TestUsersConfinesDefaultUserAndHashesPassword(t *testing.T) {
	u := UsersConfig("ABCDEF")
	var users struct {
		Default struct {
			IP     []string `xml:"networks>ip"`
			Regexp []string `xml:"networks>host_regexp"`
		} `xml:"users>default"`
		PostHog struct {
			SHA256 string `xml:"password_sha256_hex"`
		} `xml:"users>posthog"`
	}
	if err := xml.Unmarshal([]byte(u), &users); err != nil {
		t.Fatal(err)
	}
	if users.PostHog.SHA256 != "abcdef" || strings.Contains(u, "<password>") {
		t.Errorf("users.xml must hold PostHog's password hash only:\n%s", u)
	}
	// A pod's reverse DNS name is <pod>.<service>.<namespace>.svc…, which no pattern over the
	// replica names matched: the password-less default user serves its own pod only, and
	// replicas query each other as PostHog's user under the cluster's secret.
	if strings.Join(users.Default.IP, " ") != "::1 127.0.0.1" || len(users.Default.Regexp) != 0 {
		t.Errorf("default user networks = %v %v, want localhost only", users.Default.IP, users.Default.Regexp)
	}
}

func TestClusterSecretMergesIntoTheCluster(t *testing.T) {
	topo := NewTopology("posthog", 2, 2, "ph")
	var doc struct {
		Secret string `xml:"remote_servers>posthog>secret"`
	}
	if err := xml.Unmarshal([]byte(ClusterSecretConfig(topo, "s3cr3t")), &doc); err != nil || doc.Secret != "s3cr3t" {
		t.Fatalf("cluster-secret.xml: %v, secret %q", err, doc.Secret)
	}
	a, b := interserverSecret("password-one-1234"), interserverSecret("password-two-1234")
	if a == b || len(a) != 64 || a != interserverSecret("password-one-1234") || strings.Contains(a, "password") {
		t.Errorf("the secret must be a stable digest of the password that reveals nothing of it: %s %s", a, b)
	}
}

func TestXMLEscapesValues(t *testing.T) {
	doc := document(leaf("display_name", `a<b & "c"`))
	if !strings.Contains(doc, "a&lt;b &amp; &#34;c&#34;") {
		t.Errorf("value not escaped: %s", doc)
	}
}

func BenchmarkServerConfig(b *testing.B) {
	topo := NewTopology("posthog", 8, 3, "ph")
	zk := []string{"zk-0", "zk-1", "zk-2"}
	for b.Loop() {
		_ = ServerConfig(topo, zk, 2181)
	}
}

func TestColdDiskPerReplicaWithoutZeroCopyOrKeys(t *testing.T) {
	topo := NewTopology("posthog", 1, 2, "ph")
	cold := &ColdDisk{BucketURL: "http://store:9000/posthog/", MoveFactor: 0.1}
	a, b := ReplicaConfig(topo, topo.Shards[0][0], cold), ReplicaConfig(topo, topo.Shards[0][1], cold)
	for _, want := range []string{"<endpoint>http://store:9000/posthog/clickhouse-cold/posthog/chi-posthog-0-0/</endpoint>",
		"<use_environment_credentials>true</use_environment_credentials>", "<move_factor>0.1</move_factor>"} {
		if !strings.Contains(a, want) {
			t.Errorf("replica config lacks %s:\n%s", want, a)
		}
	}
	if !strings.Contains(b, "/chi-posthog-0-1/</endpoint>") {
		t.Errorf("replicas share an object-storage prefix (that is zero-copy by another name):\n%s", b)
	}
	for _, bad := range []string{"access_key", "secret", "zero_copy"} {
		if strings.Contains(a, bad) {
			t.Errorf("replica config holds %q:\n%s", bad, a)
		}
	}
}
