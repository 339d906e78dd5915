//go:build tools

// Package tools pins kwok, which simulates the local control plane's nodes.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
