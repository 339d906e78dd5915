package posthog

import (
	"slices"
	"testing"

	"github.com/posthog-deploy/posthog-deploy/config"
)

func TestServicesRouteCaptureToEvents(t *testing.T) {
	ph := config.Defaults(config.Local, config.Prod).PostHog
	byName := map[string]Service{}
	for _, s := range Services(ph) {
		byName[s.Name] = s
	}
	if got := byName["posthog-events"].Paths; !slices.Contains(got, "/e") || !slices.Contains(got, "/capture") || !slices.Contains(got, "/batch") {
		t.Errorf("events paths = %v", got)
	}
	if got := byName["posthog-web"].Paths; !slices.Equal(got, []string{"/"}) {
		t.Errorf("web paths = %v", got)
	}
	if w := byName["posthog-worker"]; w.Port != 0 || w.Scale.Min != ph.Workers || w.Scale.Max != ph.Workers {
		t.Errorf("worker = %+v: no port, a fixed count", w)
	}
	if p := byName["posthog-plugins"]; p.Scale != ph.Plugins || p.Port == 0 {
		t.Errorf("plugins = %+v", p)
	}
}
