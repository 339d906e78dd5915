//go:build tools

// Package tools pins the local control plane: kube-apiserver, kube-controller-manager and
// kube-scheduler, plus kubectl for machines that have none. k8s.io/kubernetes is not meant to be
// imported, so go.mod replaces each staging module with its published k8s.io/<module> v0.33.3.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
