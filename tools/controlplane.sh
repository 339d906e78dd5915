#!/usr/bin/env bash
# The local Kubernetes control plane that the local stack and the end-to-end tests deploy onto:
# etcd (Debian), kube-apiserver, kube-controller-manager and kube-scheduler (built by
# tools/build.sh), and kwok simulating three nodes, one in each of three zones, so that zone
# spreading is real scheduling, and static volumes on each node behind a default StorageClass.
# The Prometheus operator's CRDs (PodMonitor, ServiceMonitor, PrometheusRule; tools/build.sh
# prometheus-crds) are installed as on a cluster running kube-prometheus-stack, so that the API
# server validates the monitoring objects against the upstream schemas.
# Everything listens on 127.0.0.1 and is stopped by PID.
#
#   tools/controlplane.sh start|stop|status|running   (running: exit 0 if the API server runs)
#
# Env: RUN (state dir, default .work/controlplane), BIN (default ./bin), API_PORT (36443),
#      ETCD_PORT (32379). Writes $RUN/kubeconfig.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
RUN=${RUN:-$ROOT/.work/controlplane}
ETCD_PORT=${ETCD_PORT:-32379}
API_PORT=${API_PORT:-36443}
KCFG=$RUN/kubeconfig
ZONES=(zone-a zone-b zone-c)
VOLUMES_PER_NODE=${VOLUMES_PER_NODE:-16}
COMPONENTS=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)
export PATH=$BIN:$PATH

log() { echo "[controlplane $(date +%T)] $*" >&2; }

start_bg() { # name cmd...
  local name=$1; shift
  nohup "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

wait_for() { # desc timeout_s cmd...
  local desc=$1 t=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > end)); then
      log "timed out waiting for $desc; logs in $RUN"
      return 1
    fi
    sleep 0.3
  done
}

running() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

certs() {
  local d=$RUN/pki
  [[ -f $d/admin.crt ]] && return 0
  mkdir -p "$d" && cd "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=local-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
    "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >apiserver.ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 \
    -extfile apiserver.ext 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
  printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >client.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 \
    -extfile client.ext 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  cd - >/dev/null
}

kubeconfig() {
  local d=$RUN/pki k=(kubectl config --kubeconfig="$KCFG")
  rm -f "$KCFG"
  "${k[@]}" set-cluster local --server="https://127.0.0.1:$API_PORT" --certificate-authority="$d/ca.crt" --embed-certs=true >/dev/null
  "${k[@]}" set-credentials admin --client-certificate="$d/admin.crt" --client-key="$d/admin.key" --embed-certs=true >/dev/null
  "${k[@]}" set-context local --cluster=local --user=admin >/dev/null
  "${k[@]}" use-context local >/dev/null
}

# node <name> <zone>: a kwok-managed node, labelled with its zone and region.
node() {
  kubectl --kubeconfig="$KCFG" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels:
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: $2
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
  nodeInfo: {architecture: amd64, kubeletVersion: fake, kubeProxyVersion: fake, operatingSystem: linux}
  phase: Running
YAML
}

# volumes: a default StorageClass without a provisioner, binding when a pod is scheduled, and
# static volumes on every node, so that claims bind and the scheduler honours their nodes.
volumes() {
  local i n
  {
    printf '%s\n' "apiVersion: storage.k8s.io/v1" "kind: StorageClass" "metadata:" "  name: local" \
      "  annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}" \
      "provisioner: kubernetes.io/no-provisioner" "volumeBindingMode: WaitForFirstConsumer" "reclaimPolicy: Retain"
    for n in "${!ZONES[@]}"; do
      for i in $(seq 0 $((VOLUMES_PER_NODE - 1))); do
        printf '%s\n' "---" "apiVersion: v1" "kind: PersistentVolume" "metadata: {name: node-$n-pv-$i}" "spec:" \
          "  capacity: {storage: 1Ti}" "  accessModes: [ReadWriteOnce]" "  storageClassName: local" \
          "  persistentVolumeReclaimPolicy: Retain" "  hostPath: {path: /var/lib/local-pv/$i}" \
          "  nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-$n]}]}]}}"
      done
    done
  } | kubectl --kubeconfig="$KCFG" apply -f - >/dev/null
}

start() {
  if running kube-apiserver; then
    log "already running; KUBECONFIG=$KCFG"
    return 0
  fi
  local t0=$SECONDS d=$RUN/pki
  mkdir -p "$RUN"
  certs
  start_bg etcd etcd --name local --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "local=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync=true --quota-backend-bytes=2147483648
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  start_bg kube-apiserver kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --endpoint-reconciler-type=none \
    --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" --client-ca-file="$d/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=Node,RBAC --allow-privileged=true \
    --cert-dir="$RUN/apiserver-certs"
  kubeconfig
  wait_for kube-apiserver 120 kubectl --kubeconfig="$KCFG" get --raw /readyz
  start_bg kube-controller-manager kube-controller-manager --kubeconfig="$KCFG" \
    --authentication-kubeconfig="$KCFG" --authorization-kubeconfig="$KCFG" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
    --service-account-private-key-file="$d/sa.key" --root-ca-file="$d/ca.crt" \
    --use-service-account-credentials=false --service-cluster-ip-range=10.0.0.0/24 \
    --controllers='*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller,-persistentvolume-attach-detach-controller' \
    --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --concurrent-statefulset-syncs=10
  start_bg kube-scheduler kube-scheduler --kubeconfig="$KCFG" \
    --authentication-kubeconfig="$KCFG" --authorization-kubeconfig="$KCFG" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0
  start_bg kwok kwok --kubeconfig="$KCFG" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --manage-nodes-with-label-selector= \
    --cidr=10.244.0.0/16 --node-ip=10.1.0.1 --node-lease-duration-seconds=40
  wait_for "default service account" 60 kubectl --kubeconfig="$KCFG" -n default get sa default
  local i
  for i in "${!ZONES[@]}"; do node "node-$i" "${ZONES[$i]}"; done
  for i in "${!ZONES[@]}"; do
    wait_for "node-$i ready" 60 kubectl --kubeconfig="$KCFG" wait --for=condition=Ready "node/node-$i" --timeout=1s
  done
  volumes
  kubectl --kubeconfig="$KCFG" apply --server-side -f "$BIN/crds/" >/dev/null
  wait_for "the Prometheus operator's CRDs" 60 kubectl --kubeconfig="$KCFG" wait --for=condition=Established \
    crd/podmonitors.monitoring.coreos.com crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com --timeout=1s
  log "ready in $((SECONDS - t0))s: ${#ZONES[@]} nodes in zones ${ZONES[*]}; export KUBECONFIG=$KCFG"
}

stop() {
  local n pid pids=()
  for n in "${COMPONENTS[@]}"; do
    [[ -f $RUN/$n.pid ]] || continue
    pid=$(cat "$RUN/$n.pid")
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$RUN/$n.pid"
  done
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  # The cluster's data goes with it: a new start is a new, empty cluster.
  rm -rf "$RUN/etcd"
  log "stopped"
}

status() {
  local n
  for n in "${COMPONENTS[@]}"; do
    if running "$n"; then echo "$n running (pid $(cat "$RUN/$n.pid"))"; else echo "$n not running"; fi
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  running) running kube-apiserver ;;
  *) echo "usage: $0 start|stop|status|running" >&2; exit 2 ;;
esac
