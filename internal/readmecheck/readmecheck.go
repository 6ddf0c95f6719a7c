// Package readmecheck compiles the Go snippets of the repository's
// README.md, so that the quick start and the common tasks cannot rot. Its
// test (go test ./internal/readmecheck, part of go test ./... at the root)
// extracts every ```go block, wraps it into a program, writes the programs
// to a temporary directory under testdata/ (inside the module, so that
// github.com/restyretry/restyretry and resty resolve from go.mod), and runs
// go build and go vet on them offline (GOPROXY=off). Compiler messages point
// at README.md lines (//line directives).
//
// How a block is wrapped depends on its first line:
//
//   - "package ...": the block is a whole file and is compiled as printed.
//   - "// readmecheck: skip (reason)": the block is not compiled, and the
//     test logs it with its reason. Use it, visibly, for snippets that need
//     a module the root module does not require (otelretry, restyv3).
//   - "// readmecheck: decls": the block holds package-level declarations.
//   - anything else: the block is the body of func main.
//
// Wrapped blocks (decls and bodies) get the imports listed in Imports and the
// package-level variables of Prelude: ctx (a context.Context) and client (a
// *resty.Client with the Default policy applied). A body must use every
// variable it declares, as real code must.
package readmecheck

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Kind says how a snippet is wrapped.
type Kind int

const (
	File  Kind = iota // a whole file, compiled as printed
	Body              // the body of func main
	Decls             // package-level declarations
	Skip              // not compiled
)

// Snippet is one ```go block of a Markdown file.
type Snippet struct {
	Line   int    // the 1-based line of the block's first code line
	Code   string // the code, without the fences
	Kind   Kind
	Reason string // why a Skip is skipped
}

const (
	skipMarker  = "// readmecheck: skip"
	declsMarker = "// readmecheck: decls"
)

// Extract returns the ```go blocks of a Markdown document, in order.
// Blocks of other languages are passed over whole. A block that is not
// closed is an error.
func Extract(md []byte) ([]Snippet, error) {
	var (
		out    []Snippet
		code   strings.Builder
		fence  string // the open block's fence, "" outside blocks
		isGo   bool
		opened int // the line of the open block's fence
		line   int
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line++
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		switch {
		case fence == "":
			if f, lang, ok := openFence(trimmed); ok {
				fence, isGo, opened = f, lang == "go", line
				code.Reset()
			}
		case trimmed == fence:
			if isGo {
				s := Snippet{Line: opened + 1, Code: code.String()}
				s.classify()
				out = append(out, s)
			}
			fence = ""
		default:
			code.WriteString(text)
			code.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if fence != "" {
		return nil, fmt.Errorf("line %d: code block is never closed", opened)
	}
	return out, nil
}

// openFence reports whether a line opens a fenced code block, with its
// fence (``` or ~~~, possibly longer) and its info string's first word.
func openFence(s string) (fence, lang string, ok bool) {
	for _, c := range []string{"```", "~~~"} {
		if strings.HasPrefix(s, c) {
			n := len(s) - len(strings.TrimLeft(s, c[:1]))
			if info := strings.Fields(s[n:]); len(info) > 0 {
				lang = info[0]
			}
			return s[:n], lang, true
		}
	}
	return "", "", false
}

func (s *Snippet) classify() {
	first, _, _ := strings.Cut(strings.TrimLeft(s.Code, "\n"), "\n")
	first = strings.TrimSpace(first)
	switch {
	case strings.HasPrefix(first, skipMarker):
		s.Kind = Skip
		s.Reason = strings.Trim(strings.TrimSpace(strings.TrimPrefix(first, skipMarker)), "()")
	case strings.HasPrefix(first, declsMarker):
		s.Kind = Decls
	case strings.HasPrefix(first, "package "):
		s.Kind = File
	default:
		s.Kind = Body
	}
}

// Imports are the packages a wrapped snippet may use without importing
// them; Prelude uses each of them once, so that none is unused.
var Imports = []string{
	"context",
	"errors",
	"fmt",
	"log/slog",
	"net/http",
	"time",
	"github.com/go-resty/resty/v2",
	"github.com/restyretry/restyretry",
}

// Prelude is the package-level code of every wrapped snippet.
const Prelude = `
var (
	ctx    = context.Background()
	client = restyretry.Apply(resty.New())
)

var (
	_ = errors.Is
	_ = fmt.Sprint
	_ = slog.Default
	_ = http.MethodGet
	_ = time.Second
	_ = ctx
	_ = client
)
`

// Program returns the Go file that compiles s, with //line directives that
// make compiler messages name README lines (name is the file name used in
// them). It returns false for a Skip.
func (s Snippet) Program(name string) (string, bool) {
	var b strings.Builder
	switch s.Kind {
	case Skip:
		return "", false
	case File:
		fmt.Fprintf(&b, "//line %s:%d\n%s", name, s.Line, s.Code)
		return b.String(), true
	}
	b.WriteString("package main\n\nimport (\n")
	for _, imp := range Imports {
		fmt.Fprintf(&b, "\t%q\n", imp)
	}
	b.WriteString(")\n")
	b.WriteString(Prelude)
	if s.Kind == Decls {
		fmt.Fprintf(&b, "\nfunc main() {}\n\n//line %s:%d\n%s", name, s.Line, s.Code)
		return b.String(), true
	}
	fmt.Fprintf(&b, "\nfunc main() {\n//line %s:%d\n%s}\n", name, s.Line, s.Code)
	return b.String(), true
}
