//go:build tools

// Package tools pins the Kubernetes resource provider plugin that `make tools` builds into ./bin.
// v2.0.0 is the only provider version the module proxy serves; the engine uses it for the
// v4 SDK's resources (with a version warning). Normal machines let Pulumi install the provider.
package tools

import _ "github.com/pulumi/pulumi-kubernetes/provider/v2/cmd/pulumi-resource-kubernetes"
