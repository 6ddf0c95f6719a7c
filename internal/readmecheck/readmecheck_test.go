package readmecheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readme is the README this check guards, from this package's directory.
const readme = "../../README.md"

// TestREADMESnippetsCompile builds and vets every Go snippet of README.md
// that is not marked "// readmecheck: skip".
func TestREADMESnippetsCompile(t *testing.T) {
	md, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	snippets, err := Extract(md)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	compiled := 0
	for _, s := range snippets {
		if s.Kind == Skip {
			t.Logf("README.md:%d: skipped: %s", s.Line, s.Reason)
			continue
		}
		compiled++
	}
	// The quick start is a whole program, and the common tasks are there.
	if compiled < 5 || snippets[0].Kind != File {
		t.Fatalf("README.md: %d snippets to compile, the first of kind %d: want the quick start (a whole file) and the common tasks", compiled, snippets[0].Kind)
	}
	if out, err := check(t, "README.md", snippets); err != nil {
		t.Fatalf("README.md snippets do not compile: %v\n%s", err, out)
	}
}

// TestBrokenSnippetFails shows that the check catches a snippet that does
// not compile, and names its README line.
func TestBrokenSnippetFails(t *testing.T) {
	md := "# x\n\n```sh\ngo run .\n```\n\n```go\np := restyretry.Default()\np.MaxRetries = \"three\"\np.Apply(client)\n```\n\n" +
		"```go\n// readmecheck: skip (not Go at all)\nthis is not Go\n```\n"
	snippets, err := Extract([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(snippets) != 2 || snippets[0].Kind != Body || snippets[0].Line != 8 || snippets[1].Kind != Skip || snippets[1].Reason != "not Go at all" {
		t.Fatalf("extracted %+v", snippets)
	}
	out, err := check(t, "BROKEN.md", snippets)
	if err == nil {
		t.Fatalf("a snippet assigning a string to MaxRetries compiled:\n%s", out)
	}
	t.Logf("the check's report:\n%s", out)
	if !strings.Contains(out, "BROKEN.md:9") {
		t.Errorf("the error does not name BROKEN.md:9:\n%s", out)
	}
}

func TestExtract(t *testing.T) {
	md := "````md\n```go\nnot a snippet\n```\n````\n\n" +
		"~~~go\npackage main\n~~~\n\n" +
		"```go title=\"x\"\n// readmecheck: decls\nvar x = 1\n```\n" +
		"```go\nfmt.Println()\n```\n"
	got, err := Extract([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []Snippet{
		{Line: 8, Code: "package main\n", Kind: File},
		{Line: 12, Code: "// readmecheck: decls\nvar x = 1\n", Kind: Decls},
		{Line: 16, Code: "fmt.Println()\n", Kind: Body},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := Extract([]byte("```go\nx := 1\n")); err == nil {
		t.Errorf("an unclosed block: no error")
	}
}

// check writes one program per snippet to a fresh directory under testdata/
// (inside the module, so that imports resolve from go.mod; go ./... skips
// testdata) and runs go build and go vet on them offline.
func check(t *testing.T, name string, snippets []Snippet) (string, error) {
	t.Helper()
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "snippets-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove("testdata") // only if empty: another test may use it
	})
	for i, s := range snippets {
		src, ok := s.Program(name)
		if !ok {
			continue
		}
		pkg := filepath.Join(dir, fmt.Sprintf("s%02d_line%d", i+1, s.Line))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pattern := "./" + filepath.ToSlash(dir) + "/..."
	var out strings.Builder
	for _, args := range [][]string{{"build", "-o", os.DevNull}, {"vet"}} {
		// go test puts its own toolchain's bin first in PATH.
		cmd := exec.Command("go", append(args, pattern)...)
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
		b, err := cmd.CombinedOutput()
		out.Write(b)
		if err != nil {
			return out.String(), fmt.Errorf("go %s: %v", args[0], err)
		}
	}
	return out.String(), nil
}
