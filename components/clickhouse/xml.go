package clickhouse

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// node is an element of a ClickHouse XML config file. Configs are built as trees and rendered
// once, so that every value is escaped and the structure is checked by the compiler.
type node struct {
	name     string
	text     string
	children []node
}

func el(name string, children ...node) node { return node{name: name, children: children} }

func leaf(name string, value any) node { return node{name: name, text: fmt.Sprint(value)} }

// document renders a whole config file under the <clickhouse> root.
func document(children ...node) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n")
	el("clickhouse", children...).render(&b, 0)
	return b.String()
}

func (n node) render(b *strings.Builder, depth int) {
	pad := strings.Repeat("  ", depth)
	if len(n.children) == 0 {
		fmt.Fprintf(b, "%s<%s>", pad, n.name)
		_ = xml.EscapeText(b, []byte(n.text))
		fmt.Fprintf(b, "</%s>\n", n.name)
		return
	}
	fmt.Fprintf(b, "%s<%s>\n", pad, n.name)
	for _, c := range n.children {
		c.render(b, depth+1)
	}
	fmt.Fprintf(b, "%s</%s>\n", pad, n.name)
}
