package pgbouncer

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/config"
)

func settings(ini string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(ini, "\n") {
		if k, v, ok := strings.Cut(l, " = "); ok {
			m[k] = v
		}
	}
	return m
}

func TestIniPoolsTransactionsAndVerifiesTheServer(t *testing.T) {
	pb := config.Defaults(config.AWS, config.Prod).PgBouncer
	ini := Ini(pb, "db.example", 5432, "posthog", foundation.PostgresTLS{Mode: "verify-full", CAURL: "https://ca.example/bundle.pem"})
	got := settings(ini)
	for k, want := range map[string]string{
		"posthog":                   "host=db.example port=5432 dbname=posthog",
		"pool_mode":                 "transaction",
		"auth_type":                 "scram-sha-256",
		"auth_file":                 ConfDir + "/userlist.txt",
		"server_tls_sslmode":        "verify-full",
		"server_tls_ca_file":        foundation.CAPath,
		"listen_port":               "6432",
		"default_pool_size":         "20",
		"max_client_conn":           "1000",
		"ignore_startup_parameters": "extra_float_digits",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q\n%s", k, got[k], want, ini)
		}
	}
	local := settings(Ini(pb, "postgres", 5432, "posthog", foundation.PostgresTLS{Mode: "disable"}))
	if local["server_tls_sslmode"] != "disable" || local["server_tls_ca_file"] != "" {
		t.Errorf("an in-cluster server without TLS: %v", local)
	}
}

func TestUserlistQuotesThePassword(t *testing.T) {
	if got := Userlist("posthog", `a"b c`); got != `"posthog" "a""b c"`+"\n" {
		t.Errorf("userlist = %q", got)
	}
}

// TestExporterDSNKeepsThePassword: the exporter's connection string gives back the exact
// password when parsed as lib/pq parses it (net/url), spaces, plus signs and delimiters included.
func TestExporterDSNKeepsThePassword(t *testing.T) {
	pw := `a b+c@d:e/f?g#h%i&j`
	u, err := url.Parse(ExporterDSN("posthog", pw))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := u.User.Password()
	if got != pw || u.User.Username() != "posthog" || u.Path != "/pgbouncer" || u.Host != fmt.Sprintf("127.0.0.1:%d", Port) {
		t.Errorf("DSN parses to user %q password %q host %q path %q", u.User.Username(), got, u.Host, u.Path)
	}
}
