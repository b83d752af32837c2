// Package admintest reads an admin listener in tests: a scrape of
// /metrics parsed with Prometheus's own text parser, a metric's value by
// name and labels, and the status and body of /healthz and /readyz.
package admintest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// client bounds every request; admin answers are local and small.
var client = &http.Client{Timeout: 5 * time.Second}

// Get returns the status and body of http://addr+path.
func Get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// Metrics is one scrape, by metric family name.
type Metrics map[string]*dto.MetricFamily

// Scrape reads and parses addr's /metrics.
func Scrape(t *testing.T, addr string) Metrics {
	t.Helper()
	code, body := Get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// Value is the value of the series of family name whose labels include
// labels (name, value pairs), and whether there is one; a histogram's
// value is its count.
func (m Metrics) Value(name string, labels ...string) (float64, bool) {
	mf := m[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, s := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range s.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Histogram != nil:
			return float64(s.Histogram.GetSampleCount()), true
		case s.Untyped != nil:
			return s.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// Type is family name's type, "" when there is none.
func (m Metrics) Type(name string) string {
	if mf := m[name]; mf != nil {
		return mf.GetType().String()
	}
	return ""
}
