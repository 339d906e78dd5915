// Command guard reads `pulumi preview --json` on standard input and fails if the change would
// replace or delete a database, bucket, volume claim or data StatefulSet:
//
//	pulumi preview --stack aws-prod --json | go run ./cmd/guard [-allow name-or-urn-pattern,...]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/posthog-deploy/posthog-deploy/policies/guard"
)

func main() {
	allow := flag.String("allow", "", "comma-separated names or URN patterns a reviewer accepts losing")
	flag.Parse()
	steps, err := guard.FromPreviewJSON(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guard:", err)
		os.Exit(2)
	}
	os.Exit(report(guard.Check(steps, split(*allow))))
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func report(findings []guard.Finding) int {
	if len(findings) == 0 {
		fmt.Println("guard: no data resource is replaced or deleted")
		return 0
	}
	fmt.Fprintln(os.Stderr, "guard: this change would lose data:")
	for _, f := range findings {
		fmt.Fprintln(os.Stderr, "  "+f.String())
	}
	fmt.Fprintln(os.Stderr, "If that is intended, rerun with -allow naming each resource.")
	return 1
}
