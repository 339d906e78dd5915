// Package testports gives the tests that run real servers (ZooKeeper, PgBouncer, PostgreSQL,
// Redis) ports of their own: each package a block below the kernel's ephemeral range, so that
// neither a port the kernel hands out nor another package testing in parallel takes one between
// the moment it is chosen and the moment a server binds it.
package testports

import (
	"fmt"
	"net"
	"testing"
)

// The blocks of the packages that run servers; each holds 100 ports.
const (
	ZooKeeper = 24100
	PgBouncer = 24200
	Redis     = 24300
)

// Block returns n ports of the block starting at base that nothing listens on now.
func Block(t *testing.T, base, n int) []int {
	t.Helper()
	var ports []int
	for p := base; p < base+100 && len(ports) < n; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		t.Fatalf("only %d free ports in %d–%d", len(ports), base, base+99)
	}
	return ports
}
