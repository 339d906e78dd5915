package digitalocean

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
)

// Debian's PostgreSQL 15 (`make test-deps`): from 15 the public schema is its owner's alone.
const pgBin = "/usr/lib/postgresql/15/bin"

// TestGrantsLetPostHogMigrate sets a real PostgreSQL up as DigitalOcean does (a database owned by
// a non-superuser doadmin with CREATEROLE, PostHog's user created with nothing on it), shows that
// what PostHog's migrations do as that user fails, runs the setup Job's exact psql script as
// doadmin, and shows that it then succeeds.
func TestGrantsLetPostHogMigrate(t *testing.T) {
	dir := t.TempDir()
	pg := startPostgres(t, dir)
	for _, sql := range []string{
		`CREATE ROLE doadmin LOGIN CREATEDB CREATEROLE`,
		`CREATE DATABASE posthog OWNER doadmin`,
		`CREATE ROLE posthog LOGIN`,
	} {
		if out, err := pg("postgres", "postgres", sql); err != nil {
			t.Fatalf("%s: %v\n%s", sql, err, out)
		}
	}
	// What 1.43.0's migrations do first: a table in public, and pg_trgm (migration 0161).
	migrate := []string{`CREATE TABLE posthog_probe (id int)`}
	for _, ext := range foundation.PostgresExtensions {
		migrate = append(migrate, fmt.Sprintf(`CREATE EXTENSION IF NOT EXISTS %s`, ext))
	}
	for _, sql := range migrate {
		if out, err := pg("posthog", "posthog", sql); err == nil || !strings.Contains(out, "permission denied") {
			t.Fatalf("%q as posthog before the grants: want permission denied, got %v\n%s", sql, err, out)
		}
	}
	db := foundation.PostgresDatabase
	if out, err := pg(Admin, db.Name, foundation.SetupScript(Grants(db))); err != nil {
		t.Fatalf("the setup script as %s: %v\n%s", Admin, err, out)
	}
	for _, sql := range migrate {
		if out, err := pg("posthog", "posthog", sql); err != nil {
			t.Errorf("%q as posthog after the grants: %v\n%s", sql, err, out)
		}
	}
	// The Job may run again (a new stack, a replaced Job): the grants are idempotent.
	if out, err := pg(Admin, db.Name, foundation.SetupScript(Grants(db))); err != nil {
		t.Errorf("the setup script again: %v\n%s", err, out)
	}
}

// startPostgres runs a throwaway server on a Unix socket in dir and returns a psql runner
// (user, database, SQL), as the postgres OS user when the tests run as root.
func startPostgres(t *testing.T, dir string) func(user, db, sql string) (string, error) {
	t.Helper()
	asRoot := os.Geteuid() == 0
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		if asRoot {
			cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
		cmd.Dir = "/"
		return cmd
	}
	if asRoot {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("the tests run as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := command(pgBin+"/initdb", "-D", data, "-U", "postgres", "--auth=trust").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s", dir)
	if out, err := command(pgBin+"/pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = command(pgBin+"/pg_ctl", "-D", data, "-m", "immediate", "stop").Run() })
	return func(user, db, sql string) (string, error) {
		out, err := command(pgBin+"/psql", "-h", dir, "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		return string(out), err
	}
}
