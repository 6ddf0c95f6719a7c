package otelretry

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Metric names; see the package doc for units and attributes.
const (
	MetricRetries  = "restyretry.retries"             // counter, {retry}
	MetricGiveUps  = "restyretry.give_ups"            // counter, {request}
	MetricWait     = "restyretry.retry.wait.duration" // histogram, s (was restyretry.wait)
	MetricAttempts = "restyretry.attempts"            // histogram, {attempt}
	MetricRefusals = "restyretry.refusals"            // counter, {request}
	// MetricRequestDuration is the whole logical request, every attempt
	// and wait: histogram, s.
	MetricRequestDuration = "restyretry.request.duration"
	// MetricClientDuration is the HTTP conventions' client metric, one
	// measurement per attempt span otelretry makes: histogram, s.
	MetricClientDuration = "http.client.request.duration"
)

// Bucket boundaries of the histograms.
var (
	waitBuckets    = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	attemptBuckets = []float64{1, 2, 3, 4, 5, 6, 8, 10, 16}
	// The HTTP conventions' boundaries for http.client.request.duration.
	clientBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	// The conventions' boundaries, on to five minutes: a logical request
	// includes its waits.
	requestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300}
)

// instruments are the metrics of one Instrument call.
type instruments struct {
	retries  metric.Int64Counter
	giveUps  metric.Int64Counter
	refusals metric.Int64Counter
	wait     metric.Float64Histogram
	attempts metric.Int64Histogram
	request  metric.Float64Histogram
	client   metric.Float64Histogram
	series   seriesCache
}

func newInstruments(m metric.Meter) (*instruments, error) {
	var in instruments
	var err error
	if in.retries, err = m.Int64Counter(MetricRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries decided: each one is followed by a wait and another attempt.")); err != nil {
		return nil, err
	}
	if in.giveUps, err = m.Int64Counter(MetricGiveUps, metric.WithUnit("{request}"),
		metric.WithDescription("Logical requests that ended because the policy gave up retrying, by reason.")); err != nil {
		return nil, err
	}
	if in.refusals, err = m.Int64Counter(MetricRefusals, metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by the retry budget or held back by pacing.")); err != nil {
		return nil, err
	}
	if in.wait, err = m.Float64Histogram(MetricWait, metric.WithUnit("s"),
		metric.WithDescription("Waits before a retry."),
		metric.WithExplicitBucketBoundaries(waitBuckets...)); err != nil {
		return nil, err
	}
	if in.attempts, err = m.Int64Histogram(MetricAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts sent per logical request."),
		metric.WithExplicitBucketBoundaries(attemptBuckets...)); err != nil {
		return nil, err
	}
	if in.request, err = m.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of logical requests: every attempt, redirect and wait, from the first attempt's hooks to the end."),
		metric.WithExplicitBucketBoundaries(requestBuckets...)); err != nil {
		return nil, err
	}
	if in.client, err = m.Float64Histogram(MetricClientDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(clientBuckets...)); err != nil {
		return nil, err
	}
	in.series.m = make(map[seriesKey]*series)
	return &in, nil
}

// seriesKey is the full attribute set of one measurement, every value
// bounded (see the package doc).
type seriesKey struct {
	metric  uint8
	method  string
	host    string
	port    int
	status  int
	errType string
	rule    restyretry.Rule
	source  string
	reason  string
	scheme  string
	proto   string
}

const (
	kRetries uint8 = iota
	kGiveUps
	kRefusals
	kWait
	kAttempts
	kRequest
	kClient
)

// series holds the prepared options of one attribute set, so that
// recording a measurement with it allocates nothing.
type series struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// seriesCache maps attribute sets to prepared options. It holds at most
// maxSeries sets; beyond that options are built for every measurement
// (correct, only slower).
type seriesCache struct {
	mu sync.RWMutex
	m  map[seriesKey]*series
}

const maxSeries = 4096

func (c *seriesCache) get(k seriesKey) *series {
	c.mu.RLock()
	s := c.m[k]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	k.method, k.host, k.errType = strings.Clone(k.method), strings.Clone(k.host), strings.Clone(k.errType)
	k.rule, k.source, k.reason = restyretry.Rule(strings.Clone(string(k.rule))), strings.Clone(k.source), strings.Clone(k.reason)
	k.scheme = strings.Clone(k.scheme) // proto is one of protoVersion's constants
	opt := metric.WithAttributeSet(attribute.NewSet(k.attrs()...))
	s = &series{add: []metric.AddOption{opt}, rec: []metric.RecordOption{opt}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[k]; old != nil {
		return old
	}
	if len(c.m) < maxSeries {
		c.m[k] = s
	}
	return s
}

// attrs lists the attributes of k.
func (k seriesKey) attrs() []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(k.method))
	if k.host != "" {
		attrs = append(attrs, semconv.ServerAddress(k.host))
	}
	if k.port > 0 {
		attrs = append(attrs, semconv.ServerPort(k.port))
	}
	if k.status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(k.errType))
	} else if k.metric == kClient && k.status >= 400 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(k.status)))
	}
	if k.scheme != "" {
		attrs = append(attrs, semconv.URLScheme(k.scheme))
	}
	if k.proto != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(k.proto))
	}
	if k.rule != "" {
		attrs = append(attrs, RuleKey.String(string(k.rule)))
	}
	if k.source != "" {
		if k.metric == kRefusals {
			attrs = append(attrs, RefusalKey.String(k.source))
		} else {
			attrs = append(attrs, WaitSourceKey.String(k.source))
		}
	}
	if k.reason != "" {
		attrs = append(attrs, ReasonKey.String(k.reason))
	}
	return attrs
}

// record turns one Event into measurements. A success costs one lookup
// in the series cache and one histogram record, with no allocation.
// ctx is the context the measurements are made in: the exemplars link to
// its span.
func (in *instruments) record(ctx context.Context, ev *restyretry.Event, reason string) {
	method, _ := methodOf(ev.Method)
	host, port := eventHost(ev.URL)
	base := seriesKey{method: method, host: host, port: port}

	if ev.Rule == restyretry.RulePace {
		// Pacing acts before the first attempt: a hold is a wait, a
		// refusal is a give-up; neither is an attempt.
		if ev.GiveUp == nil {
			if ev.Wait > 0 {
				k := base
				k.metric, k.source = kWait, ev.WaitSource
				in.wait.Record(ctx, ev.Wait.Seconds(), in.series.get(k).rec...)
			}
			return
		}
		k := base
		k.metric, k.source = kRefusals, RefusalPace
		in.refusals.Add(ctx, 1, in.series.get(k).add...)
		k = base
		k.metric, k.rule, k.reason = kGiveUps, ev.Rule, reason
		in.giveUps.Add(ctx, 1, in.series.get(k).add...)
		return
	}
	if ev.Verdict == restyretry.Retry {
		k := base
		k.metric, k.status, k.errType, k.rule, k.source = kRetries, ev.Status, errorType(ev.Err), ev.Rule, ev.WaitSource
		in.retries.Add(ctx, 1, in.series.get(k).add...)
		k = base
		k.metric, k.source = kWait, ev.WaitSource
		in.wait.Record(ctx, ev.Wait.Seconds(), in.series.get(k).rec...)
		return
	}
	k := base
	k.metric, k.rule = kAttempts, ev.Rule
	in.attempts.Record(ctx, int64(ev.Attempt), in.series.get(k).rec...)
	if reason == "" {
		return
	}
	k = base
	k.metric, k.rule, k.reason = kGiveUps, ev.Rule, reason
	in.giveUps.Add(ctx, 1, in.series.get(k).add...)
	if reason == ReasonBudget {
		k = base
		k.metric, k.source = kRefusals, RefusalBudget
		in.refusals.Add(ctx, 1, in.series.get(k).add...)
	}
}

// recordAttempt records http.client.request.duration for one attempt span
// otelretry made; ctx holds that span.
func (in *instruments) recordAttempt(ctx context.Context, req *http.Request, resp *http.Response, err error, d time.Duration) {
	method, _ := methodOf(req.Method)
	k := seriesKey{metric: kClient, method: method}
	if req.URL != nil {
		k.host, k.port = hostPort(req.URL.Scheme, req.URL.Host)
		k.scheme = req.URL.Scheme
	}
	switch {
	case err != nil:
		k.errType = errorType(err)
	case resp != nil:
		k.status, k.proto = resp.StatusCode, protoVersion(resp)
	}
	in.client.Record(ctx, d.Seconds(), in.series.get(k).rec...)
}
