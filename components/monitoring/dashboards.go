package monitoring

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// The dashboards are Grafana's JSON model (dashboards/*.json); their queries name only metrics
// the platform's targets export (a test holds them to it).
//
//go:embed dashboards/*.json
var dashboardFiles embed.FS

// Dashboard is one Grafana dashboard: its file name without .json, and its JSON.
type Dashboard struct {
	Name, JSON string
}

// Dashboards are the platform's dashboards, each checked to be a JSON object with a uid.
func Dashboards() ([]Dashboard, error) {
	names, err := fs.Glob(dashboardFiles, "dashboards/*.json")
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, n := range names {
		b, err := dashboardFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var d struct {
			UID   string `json:"uid"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(b, &d); err != nil || d.UID == "" || d.Title == "" {
			return nil, fmt.Errorf("%s: not a Grafana dashboard with a uid and a title (%v)", n, err)
		}
		out = append(out, Dashboard{Name: strings.TrimSuffix(path.Base(n), ".json"), JSON: string(b)})
	}
	return out, nil
}
