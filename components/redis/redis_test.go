package redis

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/posthog-deploy/posthog-deploy/internal/testports"
)

func cli(port int, args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", fmt.Sprint(port)}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestFullRedisKeepsQueuedTasks runs the program's redis-server arguments in Debian's Redis (7.0;
// the policies behave as in the pinned 6.2): filled with the cache's expiring keys, it still takes
// Celery's tasks, and keeps every one of them while the cache goes on writing.
func TestFullRedisKeepsQueuedTasks(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("Debian's redis-server is not installed (%v): run `make test-deps`", err)
	}
	args := ServerArgs()
	if args[0] != "redis-server" || !strings.Contains(strings.Join(args, " "), "--dir "+DataPath) {
		t.Fatalf("args %v", args)
	}
	port := testports.Block(t, testports.Redis, 1)[0]
	dir := t.TempDir()
	// Only what differs on this host: the data directory and the port.
	flags := strings.Replace(strings.Join(args[1:], " "), "--dir "+DataPath, "--dir "+dir, 1)
	server := exec.Command("redis-server", append(strings.Fields(flags), "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "")...)
	server.Stdout, server.Stderr = os.Stderr, os.Stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if out, _ := cli(port, "ping"); out == "PONG" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer")
		}
	}
	for key, want := range map[string]string{"appendonly": "yes", "maxmemory": "838860800"} {
		if out, _ := cli(port, "config", "get", key); !strings.HasSuffix(out, "\n"+want) {
			t.Errorf("%s = %q, want %s", key, out, want)
		}
	}
	// Shrink the limit to fill it quickly: the policy, not the size, is what is tested.
	if out, err := cli(port, "config", "set", "maxmemory", "2mb"); err != nil || out != "OK" {
		t.Fatalf("config set: %s %v", out, err)
	}
	value := strings.Repeat("x", 32<<10)
	cache := func(from, n int) {
		for i := from; i < from+n; i++ {
			// PostHog's query cache: a week's expiry (CACHED_RESULTS_TTL).
			if out, _ := cli(port, "set", fmt.Sprintf("cache:%d", i), value, "ex", "604800"); strings.Contains(out, "OOM") {
				t.Fatalf("a cache write was refused: %s", out)
			}
		}
	}
	cache(0, 100) // 3 MiB of cache into 2 MiB: full
	const tasks = 20
	for i := range tasks {
		if out, _ := cli(port, "rpush", "celery", value[:1024]+fmt.Sprint(i)); strings.Contains(out, "OOM") {
			t.Fatalf("a full cache made Redis refuse Celery's task %d: %s", i, out)
		}
	}
	cache(100, 100) // the cache goes on writing past the limit
	if out, _ := cli(port, "llen", "celery"); out != fmt.Sprint(tasks) {
		t.Errorf("%s queued tasks left of %d: Redis evicted Celery's queue", out, tasks)
	}
}
