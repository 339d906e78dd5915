package rules

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Managed PostgreSQL types, per cloud.
const (
	RDSInstance       = "aws:rds/instance:Instance"
	CloudSQL          = "gcp:sql/databaseInstance:DatabaseInstance"
	AzurePostgres     = "azure-native:dbforpostgresql:Server"
	DODatabase        = "digitalocean:index/databaseCluster:DatabaseCluster"
	minBackupDays     = 7
	minProdBackupDays = 14
)

// minDays is the shortest backup retention allowed in the stack's environment.
func minDays(ctx Context) int {
	if ctx.Environment == "dev" || ctx.Environment == "staging" {
		return minBackupDays
	}
	return minProdBackupDays
}

// isFalse and isTrue are known booleans; an unknown value is neither.
func isFalse(v property.Value) bool {
	return v.IsBool() && !v.AsBool()
}
func isTrue(v property.Value) bool {
	return v.IsBool() && v.AsBool()
}

func postgresRules() []Rule {
	return []Rule{{
		ID: "PH-PG-001", Name: "postgres-backups",
		Why: "PostHog's Postgres holds every project, user, dashboard and feature flag; without backups " +
			"(and point-in-time recovery where the cloud has it) a bad migration or a deleted table is permanent.",
		Fix: "RDS: backupRetentionPeriod ≥ 7 days (14 in prod). Cloud SQL: settings.backupConfiguration.enabled and " +
			".pointInTimeRecoveryEnabled. Azure Flexible Server: backup.backupRetentionDays ≥ 7 (14 in prod) and " +
			"geoRedundantBackup Enabled in prod.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{RDSInstance, CloudSQL, AzurePostgres},
		Check: func(ctx Context, r Resource) []string {
			p := props(r)
			switch r.Type {
			case RDSInstance:
				if n, ok := num(at(p, "backupRetentionPeriod")); ok && int(n) < minDays(ctx) {
					return []string{fmt.Sprintf("backupRetentionPeriod is %d days, below %d", int(n), minDays(ctx))}
				} else if at(p, "backupRetentionPeriod").IsNull() {
					return []string{"backupRetentionPeriod is not set (RDS keeps 1 day)"}
				}
			case CloudSQL:
				b := at(p, "settings", "backupConfiguration")
				var out []string
				if !b.IsComputed() && !isTrue(at(b, "enabled")) && !at(b, "enabled").IsComputed() {
					out = append(out, "settings.backupConfiguration.enabled is not true")
				}
				if !b.IsComputed() && !isTrue(at(b, "pointInTimeRecoveryEnabled")) && !at(b, "pointInTimeRecoveryEnabled").IsComputed() {
					out = append(out, "settings.backupConfiguration.pointInTimeRecoveryEnabled is not true")
				}
				return out
			case AzurePostgres:
				var out []string
				if n, ok := num(at(p, "backup", "backupRetentionDays")); !ok && !at(p, "backup", "backupRetentionDays").IsComputed() || ok && int(n) < minDays(ctx) {
					out = append(out, fmt.Sprintf("backup.backupRetentionDays is %v, below %d", n, minDays(ctx)))
				}
				if geo, _ := str(at(p, "backup", "geoRedundantBackup")); ctx.Environment != "dev" && ctx.Environment != "staging" &&
					geo != "Enabled" && !at(p, "backup", "geoRedundantBackup").IsComputed() {
					out = append(out, "backup.geoRedundantBackup is not Enabled in prod")
				}
				return out
			}
			return nil
		},
		Pass: []Fixture{
			{Name: "RDS 14 days", Context: Context{Environment: "prod"}, Resources: []Resource{res(RDSInstance, "pg", map[string]any{"backupRetentionPeriod": 14})}},
			{Name: "RDS unknown", Resources: []Resource{res(RDSInstance, "pg", map[string]any{"backupRetentionPeriod": unknown})}},
			{Name: "Cloud SQL PITR", Resources: []Resource{res(CloudSQL, "pg", map[string]any{"settings": map[string]any{
				"backupConfiguration": map[string]any{"enabled": true, "pointInTimeRecoveryEnabled": true}}})}},
			{Name: "Azure geo", Context: Context{Environment: "prod"}, Resources: []Resource{res(AzurePostgres, "pg", map[string]any{
				"backup": map[string]any{"backupRetentionDays": 14, "geoRedundantBackup": "Enabled"}})}},
		},
		Fail: []Fixture{
			{Name: "RDS 7 days in prod", Context: Context{Environment: "prod"}, Resources: []Resource{res(RDSInstance, "pg", map[string]any{"backupRetentionPeriod": 7})}},
			{Name: "RDS unset", Context: Context{Environment: "dev"}, Resources: []Resource{res(RDSInstance, "pg", map[string]any{})}},
			{Name: "Cloud SQL no PITR", Resources: []Resource{res(CloudSQL, "pg", map[string]any{"settings": map[string]any{
				"backupConfiguration": map[string]any{"enabled": true}}})}},
			{Name: "Azure no geo in prod", Context: Context{Environment: "prod"}, Resources: []Resource{res(AzurePostgres, "pg", map[string]any{
				"backup": map[string]any{"backupRetentionDays": 14, "geoRedundantBackup": "Disabled"}})}},
		},
	}, {
		ID: "PH-PG-002", Name: "postgres-private-and-encrypted",
		Why:      "A database reachable from the internet, or stored unencrypted, exposes every PostHog user's data to a leaked password or a lost disk.",
		Fix:      "RDS: publiclyAccessible false and storageEncrypted true. Cloud SQL: settings.ipConfiguration.ipv4Enabled false (private IP). Azure: network.delegatedSubnetResourceId (VNet integration: no public endpoint), and publicNetworkAccess not Enabled.",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{RDSInstance, CloudSQL, AzurePostgres},
		Check: func(_ Context, r Resource) []string {
			p := props(r)
			var out []string
			switch r.Type {
			case RDSInstance:
				if isTrue(at(p, "publiclyAccessible")) {
					out = append(out, "publiclyAccessible is true")
				}
				if v := at(p, "storageEncrypted"); !v.IsComputed() && !isTrue(v) {
					out = append(out, "storageEncrypted is not true")
				}
			case CloudSQL:
				if v := at(p, "settings", "ipConfiguration", "ipv4Enabled"); !v.IsComputed() && !isFalse(v) {
					out = append(out, "settings.ipConfiguration.ipv4Enabled is not false: the instance has a public IP")
				}
			case AzurePostgres:
				if v := at(p, "network", "delegatedSubnetResourceId"); v.IsNull() || v.IsString() && v.AsString() == "" {
					out = append(out, "network.delegatedSubnetResourceId is not set: the server is not VNet-integrated and has a public endpoint")
				}
				if v, _ := str(at(p, "network", "publicNetworkAccess")); v == "Enabled" {
					out = append(out, "network.publicNetworkAccess is Enabled")
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "private RDS", Resources: []Resource{res(RDSInstance, "pg", map[string]any{"publiclyAccessible": false, "storageEncrypted": true})}},
			{Name: "private Cloud SQL", Resources: []Resource{res(CloudSQL, "pg", map[string]any{"settings": map[string]any{"ipConfiguration": map[string]any{"ipv4Enabled": false}}})}},
			{Name: "private Azure", Resources: []Resource{res(AzurePostgres, "pg", map[string]any{"network": map[string]any{"delegatedSubnetResourceId": unknown}})}}},
		Fail: []Fixture{{Name: "public RDS", Resources: []Resource{res(RDSInstance, "pg", map[string]any{"publiclyAccessible": true, "storageEncrypted": true})}},
			{Name: "unencrypted RDS", Resources: []Resource{res(RDSInstance, "pg", map[string]any{"publiclyAccessible": false})}},
			{Name: "public Cloud SQL", Resources: []Resource{res(CloudSQL, "pg", map[string]any{"settings": map[string]any{"ipConfiguration": map[string]any{"ipv4Enabled": true}}})}},
			{Name: "public Azure", Resources: []Resource{res(AzurePostgres, "pg", map[string]any{"network": map[string]any{"publicNetworkAccess": "Enabled"}})}},
			{Name: "Azure outside the VNet", Resources: []Resource{res(AzurePostgres, "pg", map[string]any{})}}},
	}, {
		ID: "PH-PG-003", Name: "postgres-deletion-protection",
		Why:      "In prod a deleted database instance takes its automated backups with it; deletion protection and a final snapshot make a destroy recoverable.",
		Fix:      "RDS: deletionProtection true and skipFinalSnapshot false. Cloud SQL: deletionProtection true. DigitalOcean: nodeCount ≥ 2 (a standby) in prod.",
		Severity: High, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{RDSInstance, CloudSQL, DODatabase},
		Check: func(ctx Context, r Resource) []string {
			if ctx.Environment == "dev" || ctx.Environment == "staging" {
				return nil
			}
			p := props(r)
			var out []string
			switch r.Type {
			case RDSInstance:
				if v := at(p, "deletionProtection"); !v.IsComputed() && !isTrue(v) {
					out = append(out, "deletionProtection is not true in prod")
				}
				if isTrue(at(p, "skipFinalSnapshot")) {
					out = append(out, "skipFinalSnapshot is true in prod")
				}
			case CloudSQL:
				if isFalse(at(p, "deletionProtection")) {
					out = append(out, "deletionProtection is false in prod")
				}
			case DODatabase:
				if n, ok := num(at(p, "nodeCount")); ok && n < 2 {
					out = append(out, "nodeCount is 1 in prod: no standby node")
				}
			}
			return out
		},
		Pass: []Fixture{{Name: "RDS", Context: Context{Environment: "prod"}, Resources: []Resource{res(RDSInstance, "pg", map[string]any{"deletionProtection": true, "skipFinalSnapshot": false})}},
			{Name: "DO standby", Context: Context{Environment: "prod"}, Resources: []Resource{res(DODatabase, "pg", map[string]any{"nodeCount": 2})}}},
		Fail: []Fixture{{Name: "RDS skip snapshot", Context: Context{Environment: "prod"}, Resources: []Resource{res(RDSInstance, "pg", map[string]any{"deletionProtection": true, "skipFinalSnapshot": true})}},
			{Name: "Cloud SQL unprotected", Context: Context{Environment: "prod"}, Resources: []Resource{res(CloudSQL, "pg", map[string]any{"deletionProtection": false})}},
			{Name: "DO single node", Context: Context{Environment: "prod"}, Resources: []Resource{res(DODatabase, "pg", map[string]any{"nodeCount": 1})}}},
	}, {
		ID: "PH-PG-004", Name: "postgres-connections-verify-tls",
		Why: "A managed database is reached over the cloud's network: without TLS the password and every row cross it in " +
			"clear, and without verifying the server's certificate anyone who can answer for its address gets both.",
		Fix: "Keep PgBouncer's server_tls_sslmode at verify-full (or verify-ca where the CA is the instance's own, as on " +
			"Cloud SQL and DigitalOcean) with server_tls_ca_file set (components/pgbouncer does on every cloud).",
		Severity: Critical, Enforcement: policyx.EnforcementLevelMandatory, Types: []string{ConfigMap},
		Check: func(ctx Context, r Resource) []string {
			if ctx.StandIns() {
				return nil
			}
			ini, ok := configTexts(r)["data.pgbouncer.ini"]
			if !ok {
				return nil
			}
			settings := map[string]string{}
			for _, line := range strings.Split(ini, "\n") {
				if k, v, found := strings.Cut(line, "="); found {
					settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
				}
			}
			var out []string
			if mode := settings["server_tls_sslmode"]; mode != "verify-full" && mode != "verify-ca" {
				out = append(out, fmt.Sprintf("pgbouncer.ini: server_tls_sslmode is %q, not verify-full or verify-ca", mode))
			}
			if settings["server_tls_ca_file"] == "" {
				out = append(out, "pgbouncer.ini: no server_tls_ca_file to verify the server against")
			}
			return out
		},
		Pass: []Fixture{
			{Name: "verified", Context: Context{Cloud: "aws"}, Resources: []Resource{configMap("pgbouncer", "pgbouncer.ini",
				"[pgbouncer]\nserver_tls_sslmode = verify-full\nserver_tls_ca_file = /etc/postgres-ca/ca.pem\n")}},
			{Name: "in-cluster stand-in", Context: Context{Cloud: "local"}, Resources: []Resource{configMap("pgbouncer", "pgbouncer.ini",
				"[pgbouncer]\nserver_tls_sslmode = disable\n")}},
			{Name: "unknown data", Context: Context{Cloud: "gcp"}, Resources: []Resource{res(ConfigMap, "pgbouncer", map[string]any{"data": unknown})}},
		},
		Fail: []Fixture{
			{Name: "TLS off", Context: Context{Cloud: "gcp"}, Resources: []Resource{configMap("pgbouncer", "pgbouncer.ini",
				"[pgbouncer]\nserver_tls_sslmode = disable\n")}},
			{Name: "encrypted, unverified", Context: Context{Cloud: "azure"}, Resources: []Resource{configMap("pgbouncer", "pgbouncer.ini",
				"[pgbouncer]\nserver_tls_sslmode = require\nserver_tls_ca_file = /etc/postgres-ca/ca.pem\n")}},
			{Name: "no CA", Context: Context{Cloud: "digitalocean"}, Resources: []Resource{configMap("pgbouncer", "pgbouncer.ini",
				"[pgbouncer]\nserver_tls_sslmode = verify-ca\n")}},
		},
	}}
}
