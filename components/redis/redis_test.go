package redis

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func cli(port int, args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", fmt.Sprint(port)}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestFullRedisRefusesWritesAndKeepsQueuedTasks runs the program's redis-server arguments in
// Debian's Redis (7.0; the policy's semantics are those of the pinned 6.2): once full, it refuses
// new writes with an error and keeps every key, where allkeys-lru would silently drop Celery's
// queued tasks.
func TestFullRedisRefusesWritesAndKeepsQueuedTasks(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("Debian's redis-server is not installed (%v): run `make test-deps`", err)
	}
	args := Args()
	if args[0] != "redis-server" || !strings.Contains(strings.Join(args, " "), "--dir "+DataPath) {
		t.Fatalf("args %v", args)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
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
	for key, want := range map[string]string{"maxmemory-policy": "noeviction", "appendonly": "yes", "maxmemory": "838860800"} {
		if out, _ := cli(port, "config", "get", key); !strings.HasSuffix(out, "\n"+want) {
			t.Errorf("%s = %q, want %s", key, out, want)
		}
	}
	// Shrink the limit to fill it quickly: the policy, not the size, is what is tested.
	if out, err := cli(port, "config", "set", "maxmemory", "2mb"); err != nil || out != "OK" {
		t.Fatalf("config set: %s %v", out, err)
	}
	value := strings.Repeat("x", 64<<10)
	refused := -1
	for i := range 200 {
		if out, _ := cli(port, "rpush", "celery", value); strings.Contains(out, "OOM") {
			refused = i
			break
		}
	}
	if refused < 1 {
		t.Fatalf("a full Redis accepted every write (or none): refused at %d", refused)
	}
	if out, _ := cli(port, "llen", "celery"); out != fmt.Sprint(refused) {
		t.Errorf("%s queued tasks left of %d: a full Redis dropped some", out, refused)
	}
}
