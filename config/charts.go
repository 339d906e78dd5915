package config

// Chart is a Helm chart pinned by repository, name and exact version, with where the values the
// program sets were read.
type Chart struct {
	Repo, Name, Version, Source string
}

// The charts a cloud stack installs at its edge (components/edge). ingress-nginx, which
// PostHog's own chart shipped, was retired in March 2026 (its README at helm-chart-4.15.1: no
// further releases or security fixes): Traefik serves the same Ingress resources, with a
// maintained release line.
var (
	Traefik = Chart{Repo: "https://traefik.github.io/charts", Name: "traefik", Version: "41.3.0",
		Source: "traefik/traefik-helm-chart v41.3.0 (Traefik v3.7.11), traefik/values.yaml: ingressClass.{enabled,isDefaultClass,name}, " +
			"providers.kubernetesIngress.publishedService.enabled, service.spec.externalTrafficPolicy (v40+), " +
			"ports.web.http.redirections.entryPoint (v39+), ports.web.allowACMEByPass; CRDs (traefik.io/v1alpha1) in crds/"}
	CertManager = Chart{Repo: "https://charts.jetstack.io", Name: "cert-manager", Version: "v1.21.1",
		Source: "cert-manager/cert-manager v1.21.1, deploy/charts/cert-manager/values.yaml: crds.enabled, crds.keep; " +
			"ClusterIssuer cert-manager.io/v1 spec.acme.solvers[].http01.ingress.ingressClassName"}
)

// KubePrometheusStack is the Prometheus operator, Prometheus, Alertmanager, Grafana,
// kube-state-metrics and the kubelet's scrape a cloud stack installs when monitoring.stack is
// "install" (components/monitoring); its operator v0.93.1 is the CRD version the local control
// plane installs (tools/build.sh prometheus-crds).
var KubePrometheusStack = Chart{Repo: "https://prometheus-community.github.io/helm-charts", Name: "kube-prometheus-stack", Version: "88.5.3",
	Source: "prometheus-community/helm-charts kube-prometheus-stack-88.5.3 (appVersion v0.93.1, kubeVersion >=1.25.0-0), values.yaml: " +
		"prometheus.prometheusSpec.{rule,serviceMonitor,podMonitor,probe}SelectorNilUsesHelmValues (true selects only release: <release>), " +
		"retention, retentionSize, replicas, storageSpec.volumeClaimTemplate.spec; alertmanager.alertmanagerSpec.{replicas,storage}; " +
		"grafana.persistence; grafana.sidecar.dashboards label grafana_dashboard=\"1\" searchNamespace ALL; kubelet.serviceMonitor.kubelet " +
		"true scrapes kubelet_volume_stats_*"}

// ClusterAutoscaler scales EKS's managed node groups between their min and max (they do not
// scale by themselves). Its image must be the cluster's Kubernetes minor version: the chart's
// appVersion is 1.35.0, so the stack sets image.tag from ClusterAutoscalerImages.
var ClusterAutoscaler = Chart{Repo: "https://kubernetes.github.io/autoscaler", Name: "cluster-autoscaler", Version: "9.59.0",
	Source: "kubernetes/autoscaler cluster-autoscaler-chart-9.59.0 (appVersion 1.35.0), cluster-autoscaler/charts/cluster-autoscaler/values.yaml: " +
		"cloudProvider (aws), awsRegion, autoDiscovery.clusterName (matches the ASG tags k8s.io/cluster-autoscaler/enabled and " +
		"k8s.io/cluster-autoscaler/<clusterName>, which EKS puts on managed node groups), rbac.serviceAccount.{name,annotations}, " +
		"image.tag, extraArgs; IAM actions from cloudprovider/aws/README.md at cluster-autoscaler-1.36.1"}

// ClusterAutoscalerImages is the cluster-autoscaler release of each Kubernetes minor version a
// cloud stack may run (the newest patch tag, cluster-autoscaler-<version>, in kubernetes/autoscaler).
var ClusterAutoscalerImages = map[string]string{"1.35": "v1.35.2", "1.36": "v1.36.1"}

// Let's Encrypt's ACME directories.
const (
	LetsEncrypt        = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
)
