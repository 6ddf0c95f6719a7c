package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSummary plays the example and reads its summary: the tree of spans
// (IDs and the port masked), with each request's events, attempt spans
// and resend counts, and one line per metric with its kind and unit.
func TestSummary(t *testing.T) {
	start := time.Now()
	var notes, out bytes.Buffer
	res, err := run(&notes, policy())
	if err != nil {
		t.Fatalf("%v\n%s", err, notes.String())
	}
	res.writeSummary(&out)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the example took %v, want under 10s", d)
	}
	text := out.String()
	// Each event names the attempt span it is about: that span is in the tree.
	for _, m := range regexp.MustCompile(`attempt_span=([0-9a-f]{4})`).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(text, "[client "+m[1]+"]") {
			t.Errorf("an event names attempt span %s, which is not in the tree", m[1])
		}
	}
	masked := regexp.MustCompile(`\b(internal|client|attempt_span=)( ?)[0-9a-f]{4}\b`).ReplaceAllString(text, "$1$2####")
	masked = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(masked, "127.0.0.1:PORT")
	masked = regexp.MustCompile(`/\d+\.\dms`).ReplaceAllString(masked, "/T")
	// Exemplars: at least one per series (one per bucket a series fills).
	for _, m := range regexp.MustCompile(`; (\d+) exemplars`).FindAllStringSubmatch(masked, -1) {
		if m[1] == "0" {
			t.Errorf("a histogram without exemplars: %s", m[0])
		}
	}
	masked = regexp.MustCompile(`; \d+ exemplars`).ReplaceAllString(masked, "; N exemplars")
	want := `
spans (server on 127.0.0.1:PORT; span IDs shortened to 4 hex digits)
checkout [internal ####]
└─ GET [internal ####] status=200 attempts=3
   ├─ · restyretry.retry attempt=1 rule=status status=503 wait=0.01s source=backoff attempt_span=####
   ├─ · restyretry.retry attempt=2 rule=status status=503 wait=0.02s source=backoff attempt_span=####
   ├─ GET [client ####] ERROR status=503 error=503 url=http://…/inventory
   ├─ GET [client ####] ERROR status=503 error=503 resend=1 url=http://…/inventory
   └─ GET [client ####] status=200 resend=2 url=http://…/inventory
quote [internal ####]
└─ GET [internal ####] status=200 attempts=2
   ├─ · restyretry.retry attempt=1 rule=status status=429 wait=0.02625s source=Retry-After-Ms attempt_span=####
   ├─ GET [client ####] ERROR status=429 error=429 url=http://…/rates
   └─ GET [client ####] status=200 resend=1 url=http://…/rates
report [internal ####]
└─ GET [internal ####] ERROR status=503 error=503 attempts=3 reason=retries_exhausted
   ├─ · restyretry.retry attempt=1 rule=status status=503 wait=0.01s source=backoff attempt_span=####
   ├─ · restyretry.retry attempt=2 rule=status status=503 wait=0.02s source=backoff attempt_span=####
   ├─ · restyretry.give_up attempt=3 rule=max-retries status=503 reason=retries_exhausted attempt_span=####
   ├─ GET [client ####] ERROR status=503 error=503 url=http://…/down
   ├─ GET [client ####] ERROR status=503 error=503 resend=1 url=http://…/down
   └─ GET [client ####] ERROR status=503 error=503 resend=2 url=http://…/down
POST [internal ####] ERROR status=503 error=503 attempts=1 reason=wait_too_long
├─ · restyretry.give_up attempt=1 rule=status status=503 wait=3600s source=Retry-After reason=wait_too_long attempt_span=####
└─ POST [client ####] ERROR status=503 error=503 url=http://…/upload

metrics (one line each: kind, unit, what was recorded)
restyretry.retries                 counter   {retry}   total 5; by http.request.method+http.response.status_code GET+429:1 GET+503:4
restyretry.give_ups                counter   {request} total 2; by restyretry.give_up.reason retries_exhausted:1 wait_too_long:1
restyretry.retry.wait.duration     histogram s         count/sum by restyretry.wait.source Retry-After-Ms:1/0.02625s backoff:4/0.06s; N exemplars
restyretry.attempts                histogram {attempt} count/sum by http.request.method+restyretry.rule GET+max-retries:1/3 GET+success:2/5 POST+status:1/1
restyretry.request.duration        histogram s         count/sum by http.request.method+http.response.status_code GET+200:2/T GET+503:1/T POST+503:1/T; N exemplars
http.client.request.duration       histogram s         count/sum by http.request.method+http.response.status_code GET+200:2/T GET+429:1/T GET+503:5/T POST+503:1/T; N exemplars
restyretry.budget.tokens           gauge     {token}   by restyretry.budget.route down=0 inventory=1.2 rates=2.2 upload=0
restyretry.budget.pool.tokens      gauge     {token}   94
restyretry.budget.failing.duration gauge     s         by restyretry.budget.route down=>0 inventory=0 rates=0 upload=0
restyretry.pacing.held             gauge     {host}    by server.address 127.0.0.1=0
`
	if masked != want {
		t.Errorf("summary\n%s\nwant\n%s", masked, want)
	}
}

// TestJSON: -json prints every span as stdouttrace does (3 callers' spans,
// 4 request spans, 9 attempts) and then the metrics as stdoutmetric does.
func TestJSON(t *testing.T) {
	res, err := run(io.Discard, policy())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := res.writeJSON(&out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	kinds := make(map[string]int)
	var metrics []string
	for {
		var v map[string]any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if _, ok := v["SpanContext"]; ok {
			kinds[fmt.Sprint(v["SpanKind"])]++
			continue
		}
		for _, sm := range v["ScopeMetrics"].([]any) {
			for _, m := range sm.(map[string]any)["Metrics"].([]any) {
				metrics = append(metrics, m.(map[string]any)["Name"].(string))
			}
		}
	}
	// SpanKind 1 is internal, 3 client.
	if fmt.Sprint(kinds) != "map[1:7 3:9]" {
		t.Errorf("span kinds %v, want 7 internal and 9 client", kinds)
	}
	if got := strings.Join(metrics, " "); got != "restyretry.retries restyretry.give_ups restyretry.retry.wait.duration restyretry.attempts restyretry.request.duration http.client.request.duration restyretry.budget.tokens restyretry.budget.pool.tokens restyretry.budget.failing.duration restyretry.pacing.held" {
		t.Errorf("metrics %s", got)
	}
}
