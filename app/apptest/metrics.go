package apptest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/settings"
)

// WithMetrics turns the metrics listener on, on a random loopback port;
// App.MetricsURL is then its base URL.
func WithMetrics() Option {
	return func(s *settings.Settings) { s.Metrics.Addr = "127.0.0.1:0" }
}

// ScrapeText GETs /metrics from the metrics listener and returns the body,
// in Prometheus' text format, requiring a 200.
func (a *App) ScrapeText() string {
	a.t.Helper()
	require.NotEmpty(a.t, a.MetricsURL, "start the app WithMetrics()")
	res, err := a.Client.Get(a.MetricsURL + "/metrics")
	require.NoError(a.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(a.t, err)
	require.Equal(a.t, http.StatusOK, res.StatusCode, "scrape: %s", body)
	require.True(a.t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain"), res.Header.Get("Content-Type"))
	return string(body)
}

// Scrape GETs /metrics and parses it into metric families by name.
func (a *App) Scrape() Families {
	a.t.Helper()
	return ParseMetrics(a.t, a.ScrapeText())
}

// Families are parsed metrics by family name.
type Families map[string]*dto.MetricFamily

// ParseMetrics parses text in Prometheus' text format.
func ParseMetrics(t testing.TB, text string) Families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err)
	return fams
}

// Value returns the value of the counter, gauge or (as its sample count)
// histogram series of family name whose labels include want; 0 and false
// when there is none.
func (f Families) Value(name string, want map[string]string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// Series returns how many series family name has.
func (f Families) Series(name string) int {
	if fam := f[name]; fam != nil {
		return len(fam.GetMetric())
	}
	return 0
}

// LabelValues returns the values label takes across family name's series.
func (f Families) LabelValues(name, label string) []string {
	var out []string
	if fam := f[name]; fam != nil {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
