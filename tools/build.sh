#!/usr/bin/env bash
# Builds one pinned tool from its tools/<module> into ./bin, from the Go module proxy only.
#
#   tools/build.sh pulumi|pulumi-resource-kubernetes|kwok|kube|kubectl|etcd|promtool|prometheus-crds
#
# A built binary is cached under $TOOLS_CACHE keyed by the hash of its module's go.mod, go.sum,
# link flags and Go version, so a fresh clone on a warm machine only copies it; a cold machine
# compiles it once (see README for the measured times).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
TOOLS_CACHE=${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/posthog-deploy/tools}

PULUMI_VERSION=v3.259.0
PROVIDER_VERSION=2.0.0
KWOK_VERSION=v0.7.0
K8S_VERSION=1.33.3
# Prometheus 3.16.0 is module version v0.316.0 (Prometheus tags its Go module v0.<major><minor>.<patch>).
PROMETHEUS_VERSION=3.16.0
# The Prometheus operator of kube-prometheus-stack 88.5.3 (config.KubePrometheusStack).
PROMETHEUS_OPERATOR_VERSION=v0.93.1

log() { echo "[tools] $*" >&2; }

# build <module dir> <ldflags> <package>...: go build into the cache, then copy into $BIN.
build() {
  local name=$1 dir=$ROOT/tools/$1 ld=$2; shift 2
  local key out p missing=0
  key=$( (cat "$dir/go.mod" "$dir/go.sum"; echo "$ld $*"; go version) | sha256sum | cut -c1-16)
  out=$TOOLS_CACHE/$name-$key
  for p in "$@"; do [[ -x $out/${p##*/} ]] || missing=1; done
  if ((missing)); then
    log "building $* (cold: minutes; cached afterwards in $out)"
    mkdir -p "$out.tmp"
    (cd "$dir" && nice -n 5 go build -trimpath -ldflags "$ld" -o "$out.tmp/" "$@")
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  mkdir -p "$BIN"
  for p in "$@"; do
    cmp -s "$out/${p##*/}" "$BIN/${p##*/}" 2>/dev/null || cp -f "$out/${p##*/}" "$BIN/"
  done
}

kube_ldflags() {
  local y=${K8S_VERSION#1.} p ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=${y%%.*} -X $p.gitTreeState=clean"
  done
  echo "$ld"
}

case ${1:?usage: $0 pulumi|pulumi-resource-kubernetes|kwok|kube|kubectl|etcd|promtool|prometheus-crds} in
  pulumi)
    build pulumi "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ;;
  pulumi-resource-kubernetes)
    build pulumi-kubernetes "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v2/pkg/version.Version=$PROVIDER_VERSION" \
      github.com/pulumi/pulumi-kubernetes/provider/v2/cmd/pulumi-resource-kubernetes ;;
  promtool)
    # Prometheus' own rule checker and rule unit-test runner, which the monitoring tests run.
    build promtool "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
      github.com/prometheus/prometheus/cmd/promtool ;;
  prometheus-crds)
    # The operator's CRDs of PodMonitor, ServiceMonitor and PrometheusRule, from its Go module
    # (example/prometheus-operator-crd), for the local control plane's strict validation.
    dir=$(cd "$ROOT/tools/promtool" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    mkdir -p "$BIN/crds"
    for k in podmonitors servicemonitors prometheusrules; do
      cmp -s "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml" "$BIN/crds/$k.yaml" 2>/dev/null ||
        cp -f "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml" "$BIN/crds/$k.yaml"
    done ;;
  kwok)
    build kwok "-s -w" sigs.k8s.io/kwok/cmd/kwok ;;
  kube)
    build kube "$(kube_ldflags)" k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ;;
  kubectl)
    # The machine image usually ships kubectl; build the pinned one only where it does not.
    command -v kubectl >/dev/null || build kube "$(kube_ldflags)" k8s.io/kubernetes/cmd/kubectl ;;
  etcd)
    # Debian's etcd-server (3.4) serves kube-apiserver 1.33 well.
    if ! command -v etcd >/dev/null; then
      log "installing etcd-server from Debian"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq etcd-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq etcd-server >/dev/null; }
    fi ;;
  *) echo "unknown tool: $1" >&2; exit 2 ;;
esac
