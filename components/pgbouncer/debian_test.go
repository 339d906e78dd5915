package pgbouncer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/posthog"
	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/internal/testports"
)

// Debian's PostgreSQL 15 and PgBouncer 1.18 (`make test-deps` installs them).
const pgBin = "/usr/lib/postgresql/15/bin"

// password holds what a generated password may: URL delimiters, a quote, a space.
const password = `p@ss/w+rd:"q" %2F`

// tlsFiles is a certificate authority and a server certificate it signed for localhost.
type tlsFiles struct{ ca, cert, key string }

func pemFile(t *testing.T, path, kind string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newCA(t *testing.T, dir, name string) (tlsFiles, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return tlsFiles{ca: pemFile(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)}, cert, key
}

func serverCert(t *testing.T, dir string) tlsFiles {
	t.Helper()
	files, ca, caKey := newCA(t, dir, "test-ca")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	files.cert = pemFile(t, filepath.Join(dir, "server.crt"), "CERTIFICATE", der)
	files.key = pemFile(t, filepath.Join(dir, "server.key"), "EC PRIVATE KEY", keyDER)
	return files
}

// runner runs the servers as the postgres user when the tests run as root: neither PostgreSQL
// nor PgBouncer runs as root.
type runner struct {
	uid, gid int
	asRoot   bool
}

func newRunner(t *testing.T) runner {
	if os.Geteuid() != 0 {
		return runner{}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("the tests run as root and there is no postgres user to run the servers as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return runner{uid: uid, gid: gid, asRoot: true}
}

// command runs name as the servers' user, from "/": a checkout in a private directory (mktemp -d)
// is not one the postgres user may enter, and psql warns about it on every call.
func (r runner) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if r.asRoot {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	cmd.Dir = "/"
	return cmd
}

func (r runner) own(t *testing.T, dir string) {
	if !r.asRoot {
		return
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, r.uid, r.gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// startPostgres runs a PostgreSQL server that, like a cloud's, accepts TLS connections only,
// with PostHog's database and a user whose password needs URL-encoding.
func startPostgres(t *testing.T, r runner, dir string, certs tlsFiles, port int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte("superuser-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.own(t, dir)
	run(t, r.command(pgBin+"/initdb", "-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth=scram-sha-256"))
	hba := "hostnossl all all 0.0.0.0/0 reject\nhostssl all all 127.0.0.1/32 scram-sha-256\nlocal all postgres trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nssl = on\n"+
		"ssl_cert_file = '%s'\nssl_key_file = '%s'\n", port, dir, certs.cert, certs.key)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r.own(t, dir)
	run(t, r.command(pgBin+"/pg_ctl", "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-w", "start"))
	t.Cleanup(func() { _ = r.command(pgBin+"/pg_ctl", "-D", data, "-m", "immediate", "stop").Run() })
	for _, sql := range []string{
		fmt.Sprintf(`CREATE USER posthog PASSWORD '%s'`, strings.ReplaceAll(password, "'", "''")),
		`CREATE DATABASE posthog OWNER posthog`,
	} {
		run(t, r.command(pgBin+"/psql", "-h", dir, "-p", strconv.Itoa(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql))
	}
}

// startPgBouncer runs Debian's PgBouncer with the pgbouncer.ini and userlist.txt the program
// renders; only what differs on this host is put in: its port and the files' paths.
func startPgBouncer(t *testing.T, r runner, dir string, pgPort int, ca string, port int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pb := config.Defaults(config.AWS, config.Prod).PgBouncer
	ini := Ini(pb, "localhost", pgPort, "posthog", foundation.PostgresTLS{Mode: "verify-full"})
	for old, replacement := range map[string]string{
		fmt.Sprintf("listen_port = %d\n", Port):          fmt.Sprintf("listen_port = %d\n", port),
		"auth_file = " + ConfDir + "/userlist.txt\n":     "auth_file = " + filepath.Join(dir, "userlist.txt") + "\n",
		"server_tls_ca_file = " + foundation.CAPath + "": "server_tls_ca_file = " + ca,
	} {
		if strings.Count(ini, old) != 1 {
			t.Fatalf("pgbouncer.ini does not set %q once:\n%s", old, ini)
		}
		ini = strings.Replace(ini, old, replacement, 1)
	}
	files := map[string]string{"pgbouncer.ini": ini, "userlist.txt": Userlist("posthog", password)}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.own(t, dir)
	cmd := r.command("pgbouncer", filepath.Join(dir, "pgbouncer.ini"))
	log, err := os.Create(filepath.Join(dir, "pgbouncer.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: runuser's child outlives a signal to runuser alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
	t.Fatalf("pgbouncer did not listen:\n%s", out)
}

// urlOf renders the program's connection URL for an endpoint on this host.
func urlOf(t *testing.T, pg foundation.Postgres, query url.Values) string {
	t.Helper()
	got := make(chan string, 1)
	pg.URL(query).ApplyT(func(s string) string { got <- s; return s })
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the URL output never resolved")
	}
	return ""
}

// redact hides the password of a connection URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Redacted()
}

func psql(r runner, connection, sql string) (string, error) {
	out, err := r.command(pgBin+"/psql", connection, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestPgBouncerSpeaksVerifiedTLSToTheDatabase runs the program's pgbouncer.ini in Debian's
// PgBouncer in front of a PostgreSQL that, like a managed database, refuses connections without
// TLS: PostHog's URL (its password encoded) reaches the database through it, the hop to the
// server is TLS, a server certificate from another CA is refused, and the migrations' direct URL
// verifies the server too.
func TestPgBouncerSpeaksVerifiedTLSToTheDatabase(t *testing.T) {
	for _, bin := range []string{pgBin + "/initdb", "/usr/sbin/pgbouncer"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("Debian's PostgreSQL 15 and PgBouncer are not installed (%v): run `make test-deps`", err)
		}
	}
	t.Setenv("PATH", "/usr/sbin:"+os.Getenv("PATH"))
	r := newRunner(t)
	dir, err := os.MkdirTemp("", "posthog-deploy-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	certs := serverCert(t, dir)
	r.own(t, dir)
	ports := testports.Block(t, testports.PgBouncer, 3)
	pgPort, bouncer, wrong := ports[0], ports[1], ports[2]
	startPostgres(t, r, filepath.Join(dir, "postgres"), certs, pgPort)
	startPgBouncer(t, r, filepath.Join(dir, "bouncer"), pgPort, certs.ca, bouncer)

	endpoint := foundation.Postgres{Host: pulumi.String("127.0.0.1").ToStringOutput(), Port: bouncer,
		Database: "posthog", User: "posthog", Password: pulumi.String(password).ToStringOutput()}
	services := urlOf(t, endpoint, url.Values{"sslmode": {"disable"}})
	got, err := psql(r, services, "SELECT current_user || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
	if err != nil || got != "posthog true" {
		t.Fatalf("through PgBouncer with %s: %q, %v", redact(services), got, err)
	}
	// Transaction pooling: a session's temporary state does not outlive its transaction's hold
	// on the server connection, so PgBouncer must say which mode it pools in.
	if out, _ := os.ReadFile(filepath.Join(dir, "bouncer", "pgbouncer.ini")); !strings.Contains(string(out), "pool_mode = transaction") {
		t.Error("pgbouncer.ini does not pool transactions")
	}

	// The same configuration with a CA that did not sign the server's certificate must fail.
	other, _, _ := newCA(t, dir, "other-ca")
	r.own(t, dir)
	startPgBouncer(t, r, filepath.Join(dir, "wrong"), pgPort, other.ca, wrong)
	endpoint.Port = wrong
	refused := r.command("timeout", "4", pgBin+"/psql", urlOf(t, endpoint, url.Values{"sslmode": {"disable"}}), "-X", "-c", "SELECT 1")
	if out, err := refused.CombinedOutput(); err == nil {
		t.Errorf("PgBouncer connected to a server its CA did not sign: %s", out)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "wrong", "pgbouncer.log")); !strings.Contains(string(log), "certificate verify failed") {
		t.Errorf("PgBouncer did not refuse the server's certificate:\n%s", log)
	}

	// The migrations connect directly, verifying the server against the CA at CAPath.
	direct := foundation.Postgres{Host: pulumi.String("localhost").ToStringOutput(), Port: pgPort, Database: "posthog",
		User: "posthog", Password: pulumi.String(password).ToStringOutput(), TLS: foundation.PostgresTLS{Mode: "verify-full"}}
	migrations := make(chan string, 1)
	posthog.MigrationsURL(direct).ApplyT(func(s string) string { migrations <- s; return s })
	u := <-migrations
	if !strings.Contains(u, "sslrootcert="+url.QueryEscape(foundation.CAPath)) || !strings.Contains(u, "sslmode=verify-full") {
		t.Fatalf("migrations URL %q does not verify the server", redact(u))
	}
	u = strings.Replace(u, url.QueryEscape(foundation.CAPath), url.QueryEscape(certs.ca), 1)
	if got, err := psql(r, u, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); err != nil || got != "t" {
		t.Errorf("the migrations' direct URL: %q, %v", got, err)
	}
	noTLS := strings.Replace(u, "sslmode=verify-full", "sslmode=disable", 1)
	if _, err := psql(r, noTLS, "SELECT 1"); err == nil {
		t.Error("the server accepted a connection without TLS: the test does not stand for a managed database")
	}
}
