package foundation

import (
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/config"
)

func resolve(t *testing.T, o pulumi.StringOutput) string {
	t.Helper()
	got := make(chan string, 1)
	o.ApplyT(func(s string) string { got <- s; return s })
	return <-got
}

// TestURLEncodesThePassword: `openssl rand -base64` yields /, + and =; a password written into
// the URL as is ends the user info early or starts the path.
func TestURLEncodesThePassword(t *testing.T) {
	for _, pw := range []string{"a/b+c=d", "p@ss:w/rd?#%", `quote"space `} {
		pg := Postgres{Host: pulumi.String("db.internal").ToStringOutput(), Port: 6432, Database: "posthog", User: "posthog",
			Password: pulumi.String(pw).ToStringOutput()}
		raw := resolve(t, pg.URL(url.Values{"sslmode": {"disable"}}))
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%q: %v", pw, err)
		}
		got, _ := u.User.Password()
		if got != pw || u.Host != "db.internal:6432" || u.Path != "/posthog" || u.Query().Get("sslmode") != "disable" {
			t.Errorf("password %q: the URL reads back as password %q, host %s, path %s, query %v", pw, got, u.Host, u.Path, u.Query())
		}
		// As Django reads it: dj-database-url 0.5.0 takes urlparse(url).password and unquotes it.
		py := exec.Command("python3", "-c", "import sys, urllib.parse as p; u = p.urlparse(sys.argv[1]); "+
			"print(p.unquote(u.password or ''), end='')", raw)
		out, err := py.Output()
		if err != nil {
			t.Fatalf("python3: %v", err)
		}
		if string(out) != pw {
			t.Errorf("password %q: Django would read %q", pw, out)
		}
	}
}

func TestCAMountPerCloud(t *testing.T) {
	curl := config.Image{Ref: "curlimages/curl:8.11.1"}
	for _, tc := range []struct {
		name    string
		tls     PostgresTLS
		scratch bool
		script  string
	}{
		{"published bundle (AWS)", PostgresTLS{Mode: "verify-full", CAURL: "https://truststore.example/eu-west-1-bundle.pem"}, true,
			"curl -fsSL --connect-timeout 10 --retry 10 --retry-all-errors -o /etc/postgres-ca/ca.pem https://truststore.example/eu-west-1-bundle.pem"},
		{"public roots (Azure)", PostgresTLS{Mode: "verify-full"}, true, "cp /cacert.pem /etc/postgres-ca/ca.pem"},
		{"the API's PEM (GCP, DigitalOcean)", PostgresTLS{Mode: "verify-ca", CA: pulumi.String("PEM").ToStringOutput()}, false, ""},
	} {
		volume, inits, mount := tc.tls.CAMount(curl)
		if mount.Path != CADir || volume.Name != mount.Volume || volume.Scratch != tc.scratch {
			t.Errorf("%s: volume %+v mounted at %+v", tc.name, volume, mount)
		}
		if !tc.scratch {
			if len(volume.ConfigMaps) != 1 || volume.ConfigMaps[0] != CAConfigMap || len(inits) != 0 {
				t.Errorf("%s: the CA must come from the %s ConfigMap: %+v %+v", tc.name, CAConfigMap, volume, inits)
			}
			continue
		}
		if len(inits) != 1 || !strings.Contains(strings.Join(inits[0].Command, " "), tc.script) || inits[0].Image != curl {
			t.Errorf("%s: init containers %+v, want one running %q", tc.name, inits, tc.script)
		}
	}
	if volume, inits, _ := (PostgresTLS{Mode: "disable"}).CAMount(curl); volume.Name != "" || inits != nil {
		t.Errorf("a server without TLS needs no CA: %+v %+v", volume, inits)
	}
}
