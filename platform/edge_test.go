package platform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config"
	"github.com/posthog-deploy/posthog-deploy/platform/capture"
)

// Every cloud stack installs its edge: Traefik and cert-manager from their pinned charts, a Let's
// Encrypt ClusterIssuer whose HTTP-01 solver uses Traefik's class, and Ingresses on that class
// with the certificate's Secret, created after the controller and the issuer exist. The app's
// Ingress asks cert-manager for the certificate; capture's Ingress reuses the Secret.
func TestEveryCloudStackIsServedOverHTTPS(t *testing.T) {
	for _, s := range cloudStacks(t) {
		releases := ofType(s.rs, "kubernetes:helm.sh/v3:Release")
		for name, chart := range map[string]config.Chart{"traefik": config.Traefik, "cert-manager": config.CertManager} {
			r, ok := releases[name]
			if !ok {
				t.Errorf("%s: no %s release", s.name, name)
				continue
			}
			o := obj(r)
			if str(get(o, "chart")) != chart.Name || str(get(o, "version")) != chart.Version || str(get(o, "repositoryOpts", "repo")) != chart.Repo {
				t.Errorf("%s: %s is not the pinned chart %s %s from %s: %v", s.name, name, chart.Name, chart.Version, chart.Repo, r.Inputs)
			}
		}
		traefik := obj(releases["traefik"])
		if str(get(traefik, "values", "ingressClass", "name")) != "traefik" || str(get(traefik, "values", "service", "spec", "externalTrafficPolicy")) != "Local" {
			t.Errorf("%s: Traefik's class or traffic policy: %v", s.name, get(traefik, "values"))
		}
		if s.cloud == "aws" && str(get(traefik, "values", "service", "annotations", "service.beta.kubernetes.io/aws-load-balancer-type")) != "nlb" {
			t.Errorf("%s: Traefik is not behind a Network Load Balancer, which keeps clients' addresses", s.name)
		}
		if b, _ := boolean(get(obj(releases["cert-manager"]), "values", "crds", "enabled")); !b {
			t.Errorf("%s: cert-manager without its CRDs", s.name)
		}
		issuer := obj(only(t, s.rs, "kubernetes:cert-manager.io/v1:ClusterIssuer"))
		acme := get(issuer, "spec", "acme")
		if str(get(acme, "server")) != config.LetsEncrypt || str(get(acme, "email")) != "ops@acme.example" ||
			str(get(get(acme, "solvers").ArrayValue()[0], "http01", "ingress", "ingressClassName")) != "traefik" {
			t.Errorf("%s: ClusterIssuer %v", s.name, acme)
		}
		byURN := map[string]string{}
		for _, r := range s.rs {
			byURN[r.URN] = r.Type
		}
		ingresses := ofType(s.rs, "kubernetes:networking.k8s.io/v1:Ingress")
		for _, name := range []string{"posthog", "posthog-capture"} {
			ing, ok := ingresses[name]
			if !ok {
				t.Fatalf("%s: no Ingress %s", s.name, name)
			}
			o := obj(ing)
			if str(get(o, "spec", "ingressClassName")) != "traefik" || str(get(get(o, "spec", "tls").ArrayValue()[0], "secretName")) != "posthog-tls" {
				t.Errorf("%s: Ingress %s class or certificate: %v", s.name, name, get(o, "spec"))
			}
			issued := str(get(o, "metadata", "annotations", "cert-manager.io/cluster-issuer")) == "letsencrypt"
			if issued != (name == "posthog") {
				t.Errorf("%s: Ingress %s asks cert-manager for the certificate: %v (only the app's should)", s.name, name, issued)
			}
			if !slices.ContainsFunc(ing.DependsOn, func(u string) bool { return byURN[u] == "kubernetes:cert-manager.io/v1:ClusterIssuer" }) {
				t.Errorf("%s: Ingress %s is created before the issuer", s.name, name)
			}
		}
		capture := get(obj(ingresses["posthog-capture"]), "spec", "rules")
		if !strings.Contains(capture.String(), "/capture") || strings.Contains(capture.String(), `"/"`) {
			t.Errorf("%s: the capture Ingress routes %v", s.name, capture)
		}
	}
}

// An allow-list keeps the app to the networks it names, never capture: clients send events
// from everywhere.
func TestTheAllowListGuardsTheAppNotCapture(t *testing.T) {
	cfg, err := capture.StackFile("../stacks/Pulumi.gcp-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Values["posthog-deploy:posthog"] = `{"domain": "posthog-dev.acme.example", "acmeEmail": "ops@acme.example", ` +
		`"allowedSourceRanges": ["203.0.113.0/24"], "acmeStaging": true}`
	rs, err := capture.Run("gcp-dev", cfg)
	if err != nil {
		t.Fatal(err)
	}
	mw := obj(only(t, rs, "kubernetes:traefik.io/v1alpha1:Middleware"))
	if r := get(mw, "spec", "ipAllowList", "sourceRange").ArrayValue(); len(r) != 1 || r[0].StringValue() != "203.0.113.0/24" {
		t.Errorf("allow-list %v", get(mw, "spec"))
	}
	ingresses := ofType(rs, "kubernetes:networking.k8s.io/v1:Ingress")
	if m := str(get(obj(ingresses["posthog"]), "metadata", "annotations", "traefik.ingress.kubernetes.io/router.middlewares")); m != "posthog-posthog-allowlist@kubernetescrd" {
		t.Errorf("the app's Ingress names middleware %q", m)
	}
	if m := get(obj(ingresses["posthog-capture"]), "metadata", "annotations", "traefik.ingress.kubernetes.io/router.middlewares"); !m.IsNull() {
		t.Errorf("capture is behind the allow-list: %v", m)
	}
	issuer := obj(only(t, rs, "kubernetes:cert-manager.io/v1:ClusterIssuer"))
	if str(get(issuer, "spec", "acme", "server")) != config.LetsEncryptStaging {
		t.Errorf("acmeStaging did not select Let's Encrypt's staging server: %v", get(issuer, "spec", "acme", "server"))
	}
}
