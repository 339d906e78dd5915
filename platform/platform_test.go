package platform_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/posthog-deploy/posthog-deploy/platform/capture"
)

// get walks a property path through objects (and secrets or outputs wrapping them).
func get(v resource.PropertyValue, path ...string) resource.PropertyValue {
	for _, p := range path {
		v = unwrap(v)
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(p)]
	}
	return unwrap(v)
}

func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput():
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

func str(v resource.PropertyValue) string {
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func obj(r capture.Resource) resource.PropertyValue { return resource.NewObjectProperty(r.Inputs) }

func ofType(rs []capture.Resource, typ string) map[string]capture.Resource {
	out := map[string]capture.Resource{}
	for _, r := range rs {
		if r.Type == typ {
			out[r.Name] = r
		}
	}
	return out
}

func stack(t *testing.T, env string, values map[string]string) []capture.Resource {
	t.Helper()
	cfg, err := capture.StackFile("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if env != "" {
		cfg.Values["posthog-deploy:environment"] = env
	}
	maps.Copy(cfg.Values, values)
	rs, err := capture.Run("local", cfg)
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return rs
}

const (
	statefulSet = "kubernetes:apps/v1:StatefulSet"
	deployment  = "kubernetes:apps/v1:Deployment"
	configMap   = "kubernetes:core/v1:ConfigMap"
	budget      = "kubernetes:policy/v1:PodDisruptionBudget"
)

func TestLocalStack(t *testing.T) {
	rs := stack(t, "", nil)
	sets := ofType(rs, statefulSet)
	want := []string{"chi-posthog-0-0", "chi-posthog-0-1", "chi-posthog-1-0", "chi-posthog-1-1",
		"kafka", "objectstore", "postgres", "redis", "zookeeper"}
	if got := slices.Sorted(maps.Keys(sets)); !slices.Equal(got, want) {
		t.Errorf("StatefulSets = %v, want %v", got, want)
	}
	deps := ofType(rs, deployment)
	if got := slices.Sorted(maps.Keys(deps)); !slices.Equal(got,
		[]string{"kafka-exporter", "pgbouncer", "posthog-events", "posthog-plugins", "posthog-web", "posthog-worker", "pushgateway"}) {
		t.Errorf("Deployments = %v", got)
	}
	replica := str(get(obj(ofType(rs, configMap)["chi-posthog-1-1"]), "data", "replica.xml"))
	if !strings.Contains(replica, "<endpoint>http://objectstore-0.objectstore.posthog.svc.cluster.local:9000/posthog/clickhouse-cold/posthog/chi-posthog-1-1/</endpoint>") {
		t.Errorf("the local stack's cold tier is not the replica's own prefix of the data bucket:\n%s", replica)
	}
	chEnv := fmt.Sprint(get(obj(sets["chi-posthog-1-1"]), "spec", "template", "spec", "containers"))
	if !strings.Contains(chEnv, "clickhouse-object-storage") {
		t.Errorf("ClickHouse does not get the object-storage keys from their Secret: %s", chEnv)
	}
	zooCfg := str(get(obj(ofType(rs, configMap)["zookeeper"]), "data", "zoo.cfg"))
	if !strings.Contains(zooCfg, "autopurge.purgeInterval=1\n") || !strings.Contains(zooCfg, "autopurge.snapRetainCount=5\n") {
		t.Errorf("zoo.cfg without autopurge:\n%s", zooCfg)
	}
	ingress := ofType(rs, "kubernetes:networking.k8s.io/v1:Ingress")["posthog"]
	if str(get(obj(ingress), "metadata", "annotations", "pulumi.com/skipAwait")) != "true" {
		t.Errorf("local Ingress must skip the load-balancer await: the local control plane never gives one")
	}
	for _, r := range rs {
		if r.Protect {
			t.Errorf("%s %s is protected in dev: make down could not destroy it", r.Type, r.Name)
		}
	}
}

func TestEveryWorkloadIsPinnedAndSized(t *testing.T) {
	rs := stack(t, "prod", nil)
	for _, typ := range []string{statefulSet, deployment} {
		for name, r := range ofType(rs, typ) {
			for _, c := range get(obj(r), "spec", "template", "spec", "containers").ArrayValue() {
				image := str(get(c, "image"))
				if i := strings.LastIndex(image, ":"); i < 0 || strings.HasSuffix(image, ":latest") {
					t.Errorf("%s: image %q is not pinned", name, image)
				}
				for _, res := range []string{"cpu", "memory"} {
					if str(get(c, "resources", "requests", res)) == "" {
						t.Errorf("%s: no %s request", name, res)
					}
				}
				// Every container is probed; one that serves nothing (the worker) by liveness alone.
				if get(c, "readinessProbe").IsNull() && (get(c, "ports").IsArray() || get(c, "livenessProbe").IsNull()) {
					t.Errorf("%s: no readiness probe", name)
				}
			}
		}
	}
}

func TestStatefulDataIsRetainedAndProtected(t *testing.T) {
	rs := stack(t, "staging", nil)
	for name, r := range ofType(rs, statefulSet) {
		policy := get(obj(r), "spec", "persistentVolumeClaimRetentionPolicy")
		if str(get(policy, "whenDeleted")) != "Retain" || str(get(policy, "whenScaled")) != "Retain" {
			t.Errorf("%s: volume claims not retained: %v", name, policy)
		}
		if len(get(obj(r), "spec", "volumeClaimTemplates").ArrayValue()) != 1 {
			t.Errorf("%s: no persistent volume", name)
		}
		if !r.Protect {
			t.Errorf("%s: not protected in staging", name)
		}
	}
	if ns := ofType(rs, "kubernetes:core/v1:Namespace")["posthog"]; !ns.Protect {
		t.Errorf("namespace not protected in staging: deleting it deletes every volume claim")
	}
}

func TestProdClickHouseTwoByTwo(t *testing.T) {
	rs := stack(t, "prod", nil)
	sets := ofType(rs, statefulSet)
	maps := ofType(rs, configMap)
	for _, name := range []string{"chi-posthog-0-0", "chi-posthog-0-1", "chi-posthog-1-0", "chi-posthog-1-1"} {
		set, ok := sets[name]
		if !ok {
			t.Errorf("no StatefulSet %s", name)
			continue
		}
		if n := get(obj(set), "spec", "replicas"); !n.IsNumber() || n.NumberValue() != 1 {
			t.Errorf("%s: replicas = %v, want 1 (one set per replica)", name, n)
		}
		macros := str(get(obj(maps[name]), "data", "replica.xml"))
		if !strings.Contains(macros, "<replica>"+name+"</replica>") {
			t.Errorf("%s: macros do not name the replica:\n%s", name, macros)
		}
		// Replicas of one shard must not share a zone: a hard spread over the shard's pods.
		var zoneRule resource.PropertyValue
		for _, c := range get(obj(set), "spec", "template", "spec", "topologySpreadConstraints").ArrayValue() {
			if str(get(c, "topologyKey")) == "topology.kubernetes.io/zone" {
				zoneRule = c
			}
		}
		shard := name[len("chi-posthog-") : len("chi-posthog-")+1]
		if str(get(zoneRule, "whenUnsatisfiable")) != "DoNotSchedule" ||
			str(get(zoneRule, "labelSelector", "matchLabels", "clickhouse.posthog.com/shard")) != shard {
			t.Errorf("%s: no hard zone spread over shard %s: %v", name, shard, zoneRule)
		}
	}
	server := str(get(obj(maps["clickhouse-config"]), "data", "posthog.xml"))
	if strings.Count(server, "<replica>") != 4 || strings.Count(server, "<shard>") != 2 {
		t.Errorf("remote_servers does not list 2 shards of 2:\n%s", server)
	}
	pdbs := ofType(rs, budget)
	for _, name := range []string{"clickhouse-shard-0", "clickhouse-shard-1", "zookeeper"} {
		if _, ok := pdbs[name]; !ok {
			t.Errorf("no PodDisruptionBudget %s", name)
		}
	}
}

func TestSecretsStaySecret(t *testing.T) {
	rs := stack(t, "", nil)
	for _, name := range []string{"posthog", "postgres", "clickhouse-users"} {
		raw := ofType(rs, "kubernetes:core/v1:Secret")[name].Inputs["stringData"]
		if data := unwrap(raw); !data.IsObject() || len(data.ObjectValue()) == 0 {
			t.Fatalf("Secret %s has no stringData", name)
		}
		// The SDK marks the whole map secret when any value is; either way no value is plain.
		if !raw.ContainsSecrets() {
			t.Errorf("Secret %s: stringData is not a Pulumi secret", name)
		}
	}
	for _, r := range ofType(rs, configMap) {
		for k, v := range get(obj(r), "data").ObjectValue() {
			if strings.Contains(str(v), "0000000000000000") {
				t.Errorf("ConfigMap %s: %s holds a secret value", r.Name, k)
			}
		}
	}
}

func TestBadConfigCreatesNothing(t *testing.T) {
	cfg, err := capture.StackFile("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Values["posthog-deploy:clickhouse"] = `{"shards": 0}`
	rs, err := capture.Run("local", cfg)
	if err == nil || !strings.Contains(err.Error(), "posthog-deploy:clickhouse.shards: invalid value 0") {
		t.Fatalf("error = %v", err)
	}
	for _, r := range rs {
		if r.Type != "pulumi:pulumi:Stack" {
			t.Errorf("%s %s created despite bad config", r.Type, r.Name)
		}
	}
}

func TestMigrationsPrecedeEveryService(t *testing.T) {
	rs := stack(t, "", nil)
	var migrate string
	for name := range ofType(rs, "kubernetes:batch/v1:Job") {
		if strings.HasPrefix(name, "posthog-migrate-") {
			migrate = name
		}
	}
	if migrate == "" {
		t.Fatal("no migrations Job")
	}
	for name, d := range ofType(rs, deployment) {
		if !strings.HasPrefix(name, "posthog-") {
			continue
		}
		waits := slices.ContainsFunc(d.DependsOn, func(urn string) bool { return strings.HasSuffix(urn, "::"+migrate) })
		if !waits {
			t.Errorf("%s does not depend on %s: it could roll out before the schema exists", name, migrate)
		}
		inits := get(obj(d), "spec", "template", "spec", "initContainers")
		if !inits.IsArray() || len(inits.ArrayValue()) == 0 ||
			!strings.Contains(fmt.Sprint(get(inits.ArrayValue()[0], "command")), "migrate --check") {
			t.Errorf("%s pods do not wait for the migrations: %v", name, inits)
		}
	}
	topics := false
	for name, j := range ofType(rs, "kubernetes:batch/v1:Job") {
		if strings.HasPrefix(name, "kafka-topics-") {
			topics = strings.Contains(fmt.Sprint(get(obj(j), "spec", "template", "spec", "containers")), "clickhouse_events_json")
		}
	}
	if !topics {
		t.Error("no Job creates PostHog's Kafka topics")
	}
}

func TestKafkaRetentionFitsTheDisk(t *testing.T) {
	rs := stack(t, "", map[string]string{"posthog-deploy:kafka": `{"brokers": 3, "replicationFactor": 3, "minInsyncReplicas": 2, "partitions": 4, "storage": "48Gi"}`})
	props := str(get(obj(ofType(rs, configMap)["kafka"]), "data", "server.properties"))
	var retention int64
	for _, l := range strings.Split(props, "\n") {
		if v, ok := strings.CutPrefix(l, "log.retention.bytes="); ok {
			fmt.Sscan(v, &retention)
		}
	}
	// 12 topics × 4 partitions × 3 replicas over 3 brokers = 48 partition replicas per broker;
	// each may hold its retention plus one 256 MiB segment, within 75% of 48 GiB.
	if worst := 48 * (retention + 256<<20); retention <= 0 || worst > 48<<30*3/4 {
		t.Errorf("log.retention.bytes = %d: 48 partitions would need %d bytes of a 48Gi volume", retention, worst)
	}
	for _, want := range []string{"min.insync.replicas=2", "default.replication.factor=3", "unclean.leader.election.enable=false",
		"zookeeper.connect=zookeeper-0.zookeeper.posthog.svc.cluster.local:2181,", "/kafka\n", "log.retention.hours=72"} {
		if !strings.Contains(props, want) {
			t.Errorf("server.properties lacks %q:\n%s", want, props)
		}
	}
}

func TestKafkaDiskTooSmallFailsBeforeAnyResource(t *testing.T) {
	cfg, err := capture.StackFile("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Values["posthog-deploy:kafka"] = `{"brokers": 3, "replicationFactor": 3, "minInsyncReplicas": 2, "partitions": 64, "storage": "10Gi"}`
	rs, err := capture.Run("local", cfg)
	if err == nil || !strings.Contains(err.Error(), `posthog-deploy:kafka.storage: invalid value "10Gi": too small`) {
		t.Fatalf("error = %v", err)
	}
	for _, r := range rs {
		if r.Type != "pulumi:pulumi:Stack" {
			t.Errorf("%s %s created despite a disk too small", r.Type, r.Name)
		}
	}
}

func TestEveryShardIsBackedUpToTheVersionedBucket(t *testing.T) {
	rs := stack(t, "prod", nil)
	for name, set := range ofType(rs, statefulSet) {
		if !strings.HasPrefix(name, "chi-") {
			continue
		}
		containers := get(obj(set), "spec", "template", "spec", "containers").ArrayValue()
		var agent resource.PropertyValue
		for _, c := range containers {
			if str(get(c, "name")) == "backup" {
				agent = c
			}
		}
		env := fmt.Sprint(get(agent, "env"))
		shard := name[len("chi-posthog-") : len("chi-posthog-")+1]
		if !strings.Contains(env, "clickhouse-backups") || !strings.Contains(env, "posthog/shard-"+shard) {
			t.Errorf("%s: no backup agent writing to clickhouse-backups/posthog/shard-%s: %s", name, shard, env)
		}
		mounts := fmt.Sprint(get(agent, "volumeMounts"))
		if !strings.Contains(mounts, "/var/lib/clickhouse") {
			t.Errorf("%s: the backup agent cannot see the replica's data: %s", name, mounts)
		}
	}
	crons := ofType(rs, cronJobT)
	for _, shard := range []string{"0", "1"} {
		c, ok := crons["clickhouse-backup-shard-"+shard]
		if !ok {
			t.Errorf("no backup schedule for shard %s", shard)
			continue
		}
		script := fmt.Sprint(get(obj(c), "spec", "jobTemplate", "spec", "template", "spec", "containers"))
		if !strings.Contains(script, "chi-posthog-"+shard+"-0.posthog.svc.cluster.local:7171/backup/create_remote") {
			t.Errorf("shard %s's backup does not ask its replica: %s", shard, script)
		}
	}
}

func TestAutoscaledDeploymentsLeaveReplicasToTheirHPA(t *testing.T) {
	rs := stack(t, "prod", nil)
	hpas := ofType(rs, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
	// Singletons by design: a second kafka_exporter would report every lag series twice, and
	// the integrity jobs push to one Pushgateway, which a second replica would split.
	singletons := map[string]bool{"kafka-exporter": true, "pushgateway": true}
	for name, d := range ofType(rs, deployment) {
		replicas := get(obj(d), "spec", "replicas")
		if singletons[name] {
			if !replicas.IsNumber() || replicas.NumberValue() != 1 {
				t.Errorf("%s has replicas %v; it must run exactly once", name, replicas)
			}
			continue
		}
		if hpa, scaled := hpas[name]; scaled {
			if !replicas.IsNull() {
				t.Errorf("%s sets replicas %v beside its HPA: every update would scale it back down", name, replicas)
			}
			if min := get(obj(hpa), "spec", "minReplicas"); !min.IsNumber() || min.NumberValue() < 2 {
				t.Errorf("%s: HPA minReplicas %v in prod", name, min)
			}
		} else if !replicas.IsNumber() || replicas.NumberValue() < 2 {
			t.Errorf("%s has no HPA and replicas %v in prod", name, replicas)
		}
	}
	if len(hpas) != 3 {
		t.Errorf("%d HPAs, want web, events and plugins", len(hpas))
	}
}

// BenchmarkStackUnderMocks evaluates the whole program for a stack file: the local stack, and
// the largest cloud stack.
func BenchmarkStackUnderMocks(b *testing.B) {
	for _, stack := range []string{"local", "aws-prod"} {
		b.Run(stack, func(b *testing.B) {
			cfg, err := capture.StackFile("../stacks/Pulumi." + stack + ".yaml")
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := capture.Run(stack, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEachServiceWaitsForTheEndpointsItUses: a component is handed its dependencies' endpoints
// and waits for what each says must exist (Kafka and ClickHouse for the ensemble, PgBouncer for
// the database, the migrations for every data service), on every stack.
func TestEachServiceWaitsForTheEndpointsItUses(t *testing.T) {
	for _, s := range allStacks(t) {
		byURN := map[string]capture.Resource{}
		for _, r := range s.rs {
			byURN[r.URN] = r
		}
		// A dependency on a component is one on each of its children.
		waitsFor := func(r capture.Resource, typ, prefix string) bool {
			return slices.ContainsFunc(r.DependsOn, func(urn string) bool {
				d := byURN[urn]
				return d.Type == typ && strings.HasPrefix(d.Name, prefix)
			})
		}
		for _, r := range s.rs {
			switch r.Type {
			case "posthog-deploy:data:Kafka", "posthog-deploy:data:ClickHouse":
				if !waitsFor(r, statefulSet, "zookeeper") {
					t.Errorf("%s: %s does not wait for the ZooKeeper ensemble", s.name, r.URN)
				}
			case "posthog-deploy:data:PgBouncer":
				db := map[string]string{"local": statefulSet, "aws": "aws:rds/instance:Instance",
					"gcp": "gcp:sql/databaseInstance:DatabaseInstance", "digitalocean": "digitalocean:index/databaseCluster:DatabaseCluster",
					"azure": "azure-native:dbforpostgresql:Server"}[s.cloud]
				if !waitsFor(r, db, "") {
					t.Errorf("%s: %s does not wait for the database (%s): %v", s.name, r.URN, db, r.DependsOn)
				}
			case "kubernetes:batch/v1:Job":
				if !strings.HasPrefix(r.Name, "posthog-migrate-") {
					continue
				}
				for _, dep := range [][2]string{{statefulSet, "chi-"}, {"kubernetes:batch/v1:Job", "kafka-topics-"},
					{statefulSet, "redis"}, {deployment, "pgbouncer"}} {
					if !waitsFor(r, dep[0], dep[1]) {
						t.Errorf("%s: the migrations do not wait for %s %s*", s.name, dep[0], dep[1])
					}
				}
			}
		}
	}
}

// An interrupted or failing run must not sit on the provider's ten-minute default: every
// awaited object has its own timeout, a workload's at least its startup window (PostHog's plugin
// server may take 15 minutes), and a Deployment's Service is only created once its Deployment is
// available, so it never waits for pods that will not come.
func TestAwaitsHaveTimeoutsAndServicesFollowTheirPods(t *testing.T) {
	want := map[string]string{ // type/name → create timeout on the local stack
		deployment + "/posthog-plugins":          "20m0s", // 900 s startup window + scheduling
		deployment + "/posthog-web":              "15m0s", // 600 s startup window + scheduling
		deployment + "/pgbouncer":                "10m0s",
		statefulSet + "/zookeeper":               "15m0s",
		"kubernetes:core/v1:Service/zookeeper":   "15m0s", // headless: as long as its set
		"kubernetes:core/v1:Service/posthog-web": "5m0s",
		"kubernetes:core/v1:Service/clickhouse":  "5m0s",
	}
	for _, s := range allStacks(t) {
		byURN := map[string]capture.Resource{}
		for _, r := range s.rs {
			byURN[r.URN] = r
		}
		for _, r := range s.rs {
			switch r.Type {
			case deployment, statefulSet, "kubernetes:core/v1:Service", "kubernetes:batch/v1:Job":
			default:
				continue
			}
			if r.Timeouts.Create == "" || r.Timeouts.Create != r.Timeouts.Update {
				t.Errorf("%s: %s waits on the provider's default (timeouts %+v)", s.name, r.URN, r.Timeouts)
			}
			if w, ok := want[r.Type+"/"+r.Name]; ok && s.name == "local" && r.Timeouts.Create != w {
				t.Errorf("%s: %s times out after %s, want %s", s.name, r.URN, r.Timeouts.Create, w)
			}
			if r.Type != "kubernetes:core/v1:Service" || str(get(obj(r), "spec", "clusterIP")) == "None" {
				continue
			}
			selector := get(obj(r), "spec", "selector")
			follows := slices.ContainsFunc(r.DependsOn, func(urn string) bool {
				d := byURN[urn]
				labels := get(obj(d), "spec", "template", "metadata", "labels")
				if (d.Type != deployment && d.Type != statefulSet) || !labels.IsObject() {
					return false
				}
				for k, v := range selector.ObjectValue() {
					if labels.ObjectValue()[k] != v {
						return false
					}
				}
				return true
			})
			if !follows {
				t.Errorf("%s: Service %s is not created after a workload whose pods it selects: %v", s.name, r.Name, r.DependsOn)
			}
		}
	}
}
