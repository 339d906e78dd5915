package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runScript runs one of the check's scripts with this machine's sh, sed, awk and sort (the
// busybox and alpine images have the same POSIX tools), in dir instead of the pod's /work, with
// fakes of the programs the pod would reach over the network put first on the PATH.
func runScript(t *testing.T, dir, script string, fakes map[string]string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-ec", strings.ReplaceAll(script, workDir+"/", dir+"/"))
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the script failed: %v\n%s\n--- script:\n%s", err, out, script)
	}
	return string(out)
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A fake curl that keeps what it was asked to push, and where.
const fakeCurl = `echo "$*" > "$PUSHED.args"; for a; do case "$a" in @*) cp "${a#@}" "$PUSHED";; http*) echo "$a" > "$PUSHED.url";; esac; done`

// TestReportCountsAnObjectMissingOnlyWhenReferencedBeforeAndAfterTheListing runs ReportScript
// on what the earlier steps would have written: an object referenced by both queries and absent
// from the bucket is missing; one a merge removed between the queries, or one written after the
// listing, is not; the prefix ClickHouse reports differs from the listing's. The pushed body
// passes `promtool check metrics`.
func TestReportCountsAnObjectMissingOnlyWhenReferencedBeforeAndAfterTheListing(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		// ClickHouse's remote_path is the whole key; rclone lists keys relative to the prefix.
		"referenced.1": "posthog/chi-posthog-0-0/aaa/kept1\nposthog/chi-posthog-0-0/bbb/lost1\nposthog/chi-posthog-0-0/ccc/merged\n",
		"referenced.2": "posthog/chi-posthog-0-0/aaa/kept1\nposthog/chi-posthog-0-0/bbb/lost1\nposthog/chi-posthog-0-0/ddd/new\n",
		"listed":       "aaa/kept1\nzzz/orphan\n",
		"detached":     "2\n",
		"backups":      "shard0-20261123 120 4096\nshard0-20261124 118 4000\n",
	})
	pushed := filepath.Join(dir, "pushed")
	t.Setenv("PUSHED", pushed)
	url := "http://pushgateway.posthog.svc.cluster.local:9091/metrics/job/posthog-integrity/replica/chi-posthog-0-0"
	runScript(t, dir, ReportScript(url, true), map[string]string{"curl": fakeCurl})

	body, err := os.ReadFile(pushed)
	if err != nil {
		t.Fatalf("nothing was pushed: %v", err)
	}
	got := string(body)
	for _, want := range []string{
		"posthog_cold_objects_missing 1\n",
		"posthog_cold_objects_referenced 3\n",
		"posthog_cold_objects_listed 2\n",
		"posthog_clickhouse_detached_parts 2\n",
		`posthog_backup_objects{backup="shard0-20261123"} 120` + "\n",
		`posthog_backup_bytes{backup="shard0-20261124"} 4000` + "\n",
		"posthog_backups_remote 2\n",
		"posthog_integrity_last_success_timestamp_seconds ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the pushed metrics lack %q:\n%s", want, got)
		}
	}
	if u, _ := os.ReadFile(pushed + ".url"); strings.TrimSpace(string(u)) != url {
		t.Errorf("pushed to %q, want %q", u, url)
	}
	// A PUT replaces the replica's whole group at the Pushgateway; a POST would keep the series
	// of a backup that is gone.
	if args, _ := os.ReadFile(pushed + ".args"); !strings.Contains(string(args), "-X PUT") {
		t.Errorf("curl %s: not a PUT", args)
	}
	lint := exec.Command(promtool(t), "check", "metrics")
	lint.Stdin = strings.NewReader(got)
	if out, err := lint.CombinedOutput(); err != nil && !onlyHelpMissing(string(out)) {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, got)
	}
}

// onlyHelpMissing: promtool's linter also asks for HELP lines, which the Pushgateway does
// not need; any other finding is a real problem.
func onlyHelpMissing(out string) bool {
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" && !strings.Contains(l, "no help text") {
			return false
		}
	}
	return true
}

// TestReportWithoutTheColdTierCountsBackupsOnly: with the cold tier off the check still runs,
// on the backups alone, and pushes no cold-data series.
func TestReportWithoutTheColdTierCountsBackupsOnly(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"detached": "0\n", "backups": "b1 7 100\n"})
	t.Setenv("PUSHED", filepath.Join(dir, "pushed"))
	runScript(t, dir, ReportScript("http://pg/metrics/job/x", false), map[string]string{"curl": fakeCurl})
	body, _ := os.ReadFile(filepath.Join(dir, "pushed"))
	if got := string(body); strings.Contains(got, "posthog_cold_") || !strings.Contains(got, `posthog_backup_objects{backup="b1"} 7`) {
		t.Errorf("pushed:\n%s", got)
	}
}

// TestListCountsEachBackupsObjects runs ListScript with a fake rclone answering as v1.72.0
// does: `lsf --dirs-only` prints "name/" per directory, `size --json` prints the JSON encoder's
// {"count":N,"bytes":N,"sizeless":N} (cmd/size/size.go). A backup deleted while the check counts
// it (retention, after the day's backup) is left out rather than reported shrunk, and one that
// appeared meanwhile waits for the next check.
func TestListCountsEachBackupsObjects(t *testing.T) {
	dir := t.TempDir()
	r := IntegrityReplica{Name: "chi-posthog-1-0", ColdPrefix: "posthog/chi-posthog-1-0", BackupPath: "posthog/shard-1"}
	rclone := `case "$1 $2" in
"lsf -R") echo "aaa/obj1"; echo "bbb/obj2";;
"lsf --dirs-only") if [ -e "$CALLS" ] && grep -q "^size" "$CALLS"; then
  echo "shard1-b/"; echo "shard1-c/"  # after counting: retention removed a, a new backup c began
else
  echo "shard1-a/"; echo "shard1-b/"
fi;;
size*) case "$3" in
  *shard1-a) echo '{"count":12,"bytes":3456,"sizeless":0}';;
  *shard1-b) echo '{"count":0,"bytes":0,"sizeless":0}';;
  esac;;
*) echo "unexpected rclone $*" >&2; exit 2;;
esac
echo "$*" >> "$CALLS"`
	t.Setenv("CALLS", filepath.Join(dir, "calls"))
	runScript(t, dir, ListScript(r, "posthog-data", "posthog-backups", true), map[string]string{"rclone": rclone})
	backups, _ := os.ReadFile(filepath.Join(dir, "backups"))
	if got := string(backups); got != "shard1-b 0 0\n" {
		t.Errorf("backups file = %q", got)
	}
	listed, _ := os.ReadFile(filepath.Join(dir, "listed"))
	if string(listed) != "aaa/obj1\nbbb/obj2\n" {
		t.Errorf("listed = %q", listed)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	for _, want := range []string{"lsf -R --files-only store:posthog-data/posthog/chi-posthog-1-0/",
		"lsf --dirs-only store:posthog-backups/posthog/shard-1/", "size --json store:posthog-backups/posthog/shard-1/shard1-a"} {
		if !strings.Contains(string(calls), want) {
			t.Errorf("rclone was not run as %q:\n%s", want, calls)
		}
	}
}
