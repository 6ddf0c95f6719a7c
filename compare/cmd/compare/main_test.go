package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunPrintsOneTablePerScenario(t *testing.T) {
	var b bytes.Buffer
	if err := run(context.Background(), &b, []string{"-small", "-only", "burst-1, outage"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"burst-1: ", "outage: ", "restyretry", "resty ", "retryablehttp", "failsafe-go", "total "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "httprate") || strings.Count(out, "\n  library") != 2 {
		t.Errorf("want exactly the two tables asked for:\n%s", out)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-only", "burst-1,nosuch"},
		{"-base", "0"},
		{"-base", "10ms", "-max", "5ms"},
		{"-max", "soon"},
		{"-nosuchflag"},
		{"-budget", "outage,nosuch"},
	} {
		var b bytes.Buffer
		err := run(context.Background(), &b, args)
		if !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
		if b.Len() != 0 {
			t.Errorf("run(%q) printed %q before failing", args, b.String())
		}
	}
	if _, err := pick(nil, "a,b"); err == nil || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("pick: %v, want both names reported", err)
	}
}
