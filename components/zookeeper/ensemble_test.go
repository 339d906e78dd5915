package zookeeper

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/internal/testports"
)

// Debian's ZooKeeper 3.8 (the zookeeper package, which `make test-deps` installs): the server's
// jar and the logging it needs to write a log.
var debianJars = []string{"/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"}

const consoleLog4j = `log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%C{1}] %m%n
`

// server is one ZooKeeper server of an ensemble on this host.
type server struct {
	id         int
	dir        string
	clientPort int
	cmd        *exec.Cmd
	log        *bytes.Buffer
}

type ensemble struct {
	t       *testing.T
	root    string
	servers []*server
	mu      sync.Mutex
}

// newEnsemble writes our zoo.cfg for three servers on loopback, each with its own ports and
// data directory, and the member id the pod's start script would write.
func newEnsemble(t *testing.T, zk config.ZooKeeper) *ensemble {
	for _, jar := range debianJars {
		if _, err := os.Stat(jar); err != nil {
			t.Fatalf("Debian's ZooKeeper is not installed (%v): run `make test-deps`", err)
		}
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("no java: %v", err)
	}
	e := &ensemble{t: t, root: t.TempDir()}
	if err := os.WriteFile(filepath.Join(e.root, "log4j.properties"), []byte(consoleLog4j), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := testports.Block(t, testports.ZooKeeper, 9)
	var members []Member
	for i := range 3 {
		members = append(members, Member{Host: "127.0.0.1", QuorumPort: ports[3*i], ElectionPort: ports[3*i+1], ClientPort: ports[3*i+2]})
	}
	for i, m := range members {
		s := &server{id: i + 1, dir: filepath.Join(e.root, fmt.Sprint(i+1)), clientPort: m.ClientPort}
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := Config(zk, members, s.dir, m.ClientPort)
		if err := os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, "myid"), []byte(fmt.Sprintln(s.id)), 0o644); err != nil {
			t.Fatal(err)
		}
		e.servers = append(e.servers, s)
	}
	t.Cleanup(func() {
		for _, s := range e.servers {
			e.stop(s)
		}
	})
	return e
}

func (e *ensemble) start(s *server) {
	e.t.Helper()
	classpath := strings.Join(append([]string{e.root}, debianJars...), ":")
	// A small snapCount so that a few hundred writes leave many snapshots to purge.
	s.cmd = exec.Command("java", "-Xmx128m", "-Dzookeeper.snapCount=20", "-cp", classpath,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(s.dir, "zoo.cfg"))
	s.log = &bytes.Buffer{}
	s.cmd.Stdout, s.cmd.Stderr = lockedWriter{&e.mu, s.log}, lockedWriter{&e.mu, s.log}
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *ensemble) stop(s *server) {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func (e *ensemble) logOf(s *server) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return s.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// probe runs a probe script of the pod (ReadyScript, LiveScript) against a server, as the
// kubelet would: bash -c, success on exit status 0.
func probe(script string) error {
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// ask sends a four-letter word and returns the answer.
func ask(port int, word string) string {
	out, _ := exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && printf %s >&3 && cat <&3", port, word)).Output()
	return string(out)
}

func (e *ensemble) waitReady(s *server, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = probe(ReadyScript(s.clientPort)); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	e.t.Fatalf("server %d not ready after %s: %v\n%s", s.id, within, err, e.logOf(s))
}

func snapshots(t *testing.T, s *server) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.dir, "version-2", "snapshot.*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// TestOurZooCfgRunsAnEnsembleWithAutopurge runs the zoo.cfg the program renders in Debian's
// ZooKeeper 3.8, three servers on loopback: they form a quorum, the pod's probe scripts tell
// ready from not ready, the admin commands outside the allow-list are refused, and autopurge
// removes old snapshots when it runs.
func TestOurZooCfgRunsAnEnsembleWithAutopurge(t *testing.T) {
	zk := config.Defaults(config.Local, config.Prod).ZooKeeper
	e := newEnsemble(t, zk)
	first := e.servers[0]

	// One server of three is no quorum: it must not report ready.
	e.start(first)
	time.Sleep(3 * time.Second)
	if err := probe(ReadyScript(first.clientPort)); err == nil {
		t.Errorf("a lone member of a three-node ensemble passed the readiness probe: %s", ask(first.clientPort, "srvr"))
	}
	for _, s := range e.servers[1:] {
		e.start(s)
	}
	modes := map[string]int{}
	for _, s := range e.servers {
		e.waitReady(s, 60*time.Second)
		if err := probe(LiveScript(s.clientPort)); err != nil {
			t.Errorf("server %d: liveness probe failed: %v", s.id, err)
		}
		for _, l := range strings.Split(ask(s.clientPort, "srvr"), "\n") {
			if mode, ok := strings.CutPrefix(l, "Mode: "); ok {
				modes[mode]++
			}
		}
	}
	if modes["leader"] != 1 || modes["follower"] != 2 {
		t.Errorf("modes = %v, want one leader and two followers", modes)
	}
	if got := ask(first.clientPort, "conf"); !strings.Contains(got, "not in the whitelist") {
		t.Errorf("conf, outside the four-letter-word allow-list, answered: %q", got)
	}
	for _, s := range e.servers {
		log := e.logOf(s)
		for _, want := range []string{
			fmt.Sprintf("autopurge.snapRetainCount set to %d", zk.SnapRetainCount),
			fmt.Sprintf("autopurge.purgeInterval set to %d", zk.PurgeIntervalHours),
			"Purge task started.",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("server %d's log lacks %q", s.id, want)
			}
		}
		if strings.Contains(log, "Purge task is not scheduled") {
			t.Errorf("server %d did not schedule autopurge", s.id)
		}
	}

	// Writes through one member leave snapshots on every member; autopurge, which runs when a
	// server starts and then every purgeInterval hours, keeps snapRetainCount of them.
	var script strings.Builder
	for i := range 400 {
		fmt.Fprintf(&script, "create /posthog-deploy-%d x\n", i)
	}
	script.WriteString("quit\n")
	cli := exec.Command("java", "-Xmx128m", "-cp", strings.Join(append([]string{e.root}, debianJars...), ":"),
		"org.apache.zookeeper.ZooKeeperMain", "-server", fmt.Sprintf("127.0.0.1:%d", first.clientPort))
	cli.Stdin = strings.NewReader(script.String())
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("writing znodes: %v\n%s", err, out)
	}
	last := e.servers[2]
	before := snapshots(t, last)
	if before <= zk.SnapRetainCount {
		t.Fatalf("only %d snapshots after 400 writes: the test cannot show a purge", before)
	}
	// A restarted server logs afresh. A member that rejoins takes a snapshot of its own, which
	// may land after the purge: count the snapshots that were there before the restart.
	restarted := time.Now()
	e.stop(last)
	e.start(last)
	e.waitReady(last, 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.logOf(last), "Purge task completed.") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	after, kept := snapshots(t, last), olderThan(t, last, restarted)
	t.Logf("snapshots on server %d: %d before the purge, %d after, %d of them from before the restart", last.id, before, after, kept)
	if kept > zk.SnapRetainCount || kept == before {
		t.Errorf("%d snapshots before the purge, %d of them kept: autopurge keeps %d", before, kept, zk.SnapRetainCount)
	}
}

// olderThan counts the server's snapshots written before t.
func olderThan(t *testing.T, s *server, before time.Time) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.dir, "version-2", "snapshot.*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().Before(before) {
			n++
		}
	}
	return n
}
