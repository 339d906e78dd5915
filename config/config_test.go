package config

import (
	"strings"
	"testing"
)

// source is a stack's raw config: plain values and the keys set as secrets.
type source struct {
	values  map[string]string
	secrets map[string]bool
}

func (s source) Get(k string) (string, bool) { v, ok := s.values[k]; return v, ok }
func (s source) IsSecret(k string) bool      { return s.secrets[k] }

// valid is a minimal good stack: cloud, environment and the three secrets.
func valid(env string, extra map[string]string) source {
	s := source{values: map[string]string{"cloud": "local", "environment": env}, secrets: map[string]bool{}}
	for k, n := range SecretKeys {
		s.values[k] = strings.Repeat("s", n)
		s.secrets[k] = true
	}
	for k, v := range extra {
		s.values[k] = v
	}
	return s
}

func TestDefaultsPerEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env                          string
		zk, shards, replicas, webMin int
	}{
		{"dev", 1, 1, 1, 1},
		{"staging", 3, 1, 2, 2},
		{"prod", 3, 2, 2, 2},
	} {
		t.Run(tc.env, func(t *testing.T) {
			c, err := Parse(valid(tc.env, nil))
			if err != nil {
				t.Fatal(err)
			}
			if c.ZooKeeper.Replicas != tc.zk || c.ClickHouse.Shards != tc.shards ||
				c.ClickHouse.Replicas != tc.replicas || c.PostHog.Web.Min != tc.webMin {
				t.Errorf("got zk=%d shards=%d replicas=%d web.min=%d", c.ZooKeeper.Replicas,
					c.ClickHouse.Shards, c.ClickHouse.Replicas, c.PostHog.Web.Min)
			}
			if c.ZooKeeper.PurgeIntervalHours < 1 || c.ZooKeeper.SnapRetainCount < 3 {
				t.Errorf("autopurge off by default: %+v", c.ZooKeeper)
			}
			if got, want := c.Environment.Protected(), tc.env != "dev"; got != want {
				t.Errorf("Protected() = %v, want %v", got, want)
			}
		})
	}
}

func TestOverlayKeepsUnsetDefaults(t *testing.T) {
	c, err := Parse(valid("prod", map[string]string{
		"clickhouse": `{"shards": 3, "allowExperimental": ["allow_experimental_object_type"]}`,
		"namespace":  "analytics",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHouse.Shards != 3 || c.ClickHouse.Replicas != 2 || c.ClickHouse.Cluster != "posthog" {
		t.Errorf("clickhouse = %+v, want 3 shards over the prod defaults", c.ClickHouse)
	}
	if c.Namespace != "analytics" || len(c.ClickHouse.AllowExperimental) != 1 {
		t.Errorf("config = %+v", c)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  source
		want []string
	}{
		{"no cloud", source{values: map[string]string{"environment": "dev"}},
			[]string{"posthog-deploy:cloud: is required"}},
		{"unknown cloud", source{values: map[string]string{"cloud": "heroku", "environment": "dev"}},
			[]string{`posthog-deploy:cloud: invalid value "heroku": must be one of local, aws, gcp, digitalocean, azure`}},
		{"unknown environment", source{values: map[string]string{"cloud": "aws", "environment": "production"}},
			[]string{`posthog-deploy:environment: invalid value "production": must be one of dev, staging, prod`}},
		{"prod with one replica per shard", valid("prod", map[string]string{"clickhouse": `{"replicas": 1}`}),
			[]string{"posthog-deploy:clickhouse.replicas: invalid value 1: must be at least 2 in prod"}},
		{"staging with one zookeeper", valid("staging", map[string]string{"zookeeper": `{"replicas": 1}`}),
			[]string{"posthog-deploy:zookeeper.replicas: invalid value 1: must be at least 3 in staging"}},
		{"even ensemble", valid("dev", map[string]string{"zookeeper": `{"replicas": 4}`}),
			[]string{"posthog-deploy:zookeeper.replicas: invalid value 4: must be odd, from 1 to 7"}},
		{"autopurge off", valid("dev", map[string]string{"zookeeper": `{"purgeIntervalHours": 0}`}),
			[]string{"posthog-deploy:zookeeper.purgeIntervalHours: invalid value 0: must be from 1 to 168: autopurge is never off"}},
		{"too few snapshots", valid("dev", map[string]string{"zookeeper": `{"snapRetainCount": 2}`}),
			[]string{"posthog-deploy:zookeeper.snapRetainCount: invalid value 2: must be from 3 to 100"}},
		{"zero shards", valid("dev", map[string]string{"clickhouse": `{"shards": 0}`}),
			[]string{"posthog-deploy:clickhouse.shards: invalid value 0: must be from 1 to 16"}},
		{"latest image", valid("dev", map[string]string{"clickhouse": `{"image": "clickhouse/clickhouse-server:latest"}`}),
			[]string{`posthog-deploy:clickhouse.image: invalid value "clickhouse/clickhouse-server:latest": must pin a tag`}},
		{"untagged image", valid("dev", map[string]string{"posthog": `{"image": "registry:5000/posthog/posthog"}`}),
			[]string{`posthog-deploy:posthog.image: invalid value "registry:5000/posthog/posthog": must pin a tag`}},
		{"zero-copy allowed", valid("dev", map[string]string{"clickhouse": `{"allowExperimental": ["allow_experimental_zero_copy_replication"]}`}),
			[]string{"zero-copy replication is never allowed"}},
		{"not an experimental setting", valid("dev", map[string]string{"clickhouse": `{"allowExperimental": ["max_threads"]}`}),
			[]string{`posthog-deploy:clickhouse.allowExperimental[0]: invalid value "max_threads": must name an allow_experimental_* setting`}},
		{"typo in a field", valid("dev", map[string]string{"clickhouse": `{"shard": 2}`}),
			[]string{`posthog-deploy:clickhouse: must be an object of its documented fields: unknown field "shard"`}},
		{"wrong type", valid("dev", map[string]string{"clickhouse": `{"shards": "two"}`}),
			[]string{`posthog-deploy:clickhouse: must be an object of its documented fields: field "shards" must be a int, not string`}},
		{"bad backup schedule", valid("dev", map[string]string{"clickhouse": `{"backup": {"schedule": "daily"}}`}),
			[]string{`posthog-deploy:clickhouse.backup.schedule: invalid value "daily": must be a cron schedule`}},
		{"too few backups in prod", valid("prod", map[string]string{"clickhouse": `{"backup": {"keep": 3}}`}),
			[]string{"posthog-deploy:clickhouse.backup.keep: invalid value 3: must be at least 7 in prod"}},
		{"bad namespace", valid("dev", map[string]string{"namespace": "PostHog_NS"}),
			[]string{`posthog-deploy:namespace: invalid value "PostHog_NS": must be a DNS label`}},
		{"bad storage", valid("dev", map[string]string{"zookeeper": `{"storage": "10GB"}`}),
			[]string{`posthog-deploy:zookeeper.storage: invalid value "10GB": must be a size such as 10Gi`}},
		{"web max below min", valid("dev", map[string]string{"posthog": `{"web": {"min": 3, "max": 2}}`}),
			[]string{"posthog-deploy:posthog.web.max: invalid value 2: must be from posthog.web.min (3) to 50"}},
		{"prod web single replica", valid("prod", map[string]string{"posthog": `{"web": {"min": 1, "max": 4}}`}),
			[]string{"posthog-deploy:posthog.web.min: invalid value 1: must be at least 2 in prod"}},
		{"secret missing", func() source { s := valid("dev", nil); delete(s.values, "secretKey"); return s }(),
			[]string{"posthog-deploy:secretKey: is required: set it with `pulumi config set --secret posthog-deploy:secretKey <value>`"}},
		{"secret in plain text", func() source { s := valid("dev", nil); s.secrets["postgresPassword"] = false; return s }(),
			[]string{"posthog-deploy:postgresPassword: must be a secret, not plain text"}},
		{"secret too short", func() source { s := valid("dev", nil); s.values["clickhousePassword"] = "hunter2"; return s }(),
			[]string{"posthog-deploy:clickhousePassword: must be at least 16 characters long (the value is not shown)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.src)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a secret value: %v", err)
			}
		})
	}
}

func TestAllErrorsReportedTogether(t *testing.T) {
	_, err := Parse(valid("prod", map[string]string{
		"zookeeper":  `{"replicas": 1, "snapRetainCount": 1}`,
		"clickhouse": `{"replicas": 1}`,
	}))
	errs, ok := err.(Errors)
	if !ok || len(errs) != 3 {
		t.Fatalf("want 3 field errors, got %v", err)
	}
}
