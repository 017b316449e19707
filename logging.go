package main

// Diagnostics (stderr). Every line mailtwin writes to stderr, warnings,
// progress, -v action lines, -vv protocol traces and errors, goes
// through the one *slog.Logger that run builds (globalOptions.log), in
// the format --log-format picks:
//
//   - text (the default): "mailtwin: MSG", one line per record, as
//     mailtwin has always written them; attributes are not shown, except
//     hint, which is a second "mailtwin: HINT" line.
//   - json: one JSON object per line through slog's JSONHandler, for log
//     collectors: time, level (DEBUG, INFO, WARN, ERROR) and msg (the
//     text format's line without its prefix), and, where they apply, the
//     attributes named by the field* constants below. These names are
//     stable: the README documents them.
//
// Usage text (--help, no command) is not a diagnostic and stays plain.
// Nothing logged holds a password, a token or a message body.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
)

// Log formats --log-format accepts.
const (
	logText = "text"
	logJSON = "json"
)

// Field names of the JSON log lines, besides slog's time, level and msg.
const (
	fieldPair     = "pair"      // the pair's name
	fieldFolder   = "folder"    // logical folder name
	fieldSide     = "side"      // "a" or "b"
	fieldAction   = "action"    // the action's op: copy, store, move, expunge, create-folder, ...
	fieldUID      = "uid"       // the message's UID on side (a copy's: its source UID)
	fieldDone     = "done"      // actions done so far
	fieldTotal    = "total"     // actions in the plan
	fieldBytes    = "bytes"     // message bytes copied so far
	fieldAccount  = "account"   // an account's name (protocol traces)
	fieldError    = "error"     // the error's text
	fieldExitCode = "exit_code" // the exit code mailtwin ends with
	fieldHint     = "hint"      // what a person may do about an error
)

// newLogger returns the logger of mailtwin's diagnostics, writing to w in
// format (logText or logJSON).
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case logText, "":
		return slog.New(&textHandler{mu: &sync.Mutex{}, w: w}), nil
	case logJSON:
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: want text or json", format)}
}

// textHandler writes records as "mailtwin: MSG" lines, and a hint
// attribute as a line of its own.
type textHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	attrs []slog.Attr
}

func (h *textHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("mailtwin: " + r.Message + "\n")
	hint := func(a slog.Attr) bool {
		if a.Key == fieldHint {
			b.WriteString("mailtwin: " + a.Value.String() + "\n")
		}
		return true
	}
	for _, a := range h.attrs {
		hint(a)
	}
	r.Attrs(hint)
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *textHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &textHandler{mu: h.mu, w: h.w, attrs: append(cloneAttrs(h.attrs), attrs...)}
}

func (h *textHandler) WithGroup(string) slog.Handler { return h }

// stderrLines is where the logger writes: stderr, or, while progress
// bars are drawn there, the bars, which print whole lines above
// themselves (a line written to stderr directly would garble them).
type stderrLines struct {
	mu  sync.Mutex
	w   io.Writer
	via io.Writer
}

func (s *stderrLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.via != nil {
		if n, err := s.via.Write(p); err == nil {
			return n, nil
		}
		// the bars are gone: straight to stderr
	}
	return s.w.Write(p)
}

// route sends lines through w until route(nil). It is safe to call on
// a nil *stderrLines (then it does nothing).
func (s *stderrLines) route(w io.Writer) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.via = w
}

func cloneAttrs(a []slog.Attr) []slog.Attr { return append([]slog.Attr(nil), a...) }

// logDiagnostics writes configuration diagnostics: in text, as
// hclconfig.WriteDiagnostics does, with the source snippets; in JSON,
// one record per diagnostic, "FILE:LINE:COL: SUMMARY: DETAIL".
func logDiagnostics(g *globalOptions, diags hcl.Diagnostics, write func(io.Writer)) {
	if g.logFormat != logJSON {
		write(g.stderr)
		return
	}
	for _, d := range diags {
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		rng := d.Subject
		if rng == nil {
			rng = d.Context
		}
		if rng != nil {
			msg = fmt.Sprintf("%s:%d:%d: %s", rng.Filename, rng.Start.Line, rng.Start.Column, msg)
		}
		level := slog.LevelError
		if d.Severity == hcl.DiagWarning {
			level = slog.LevelWarn
		}
		g.log.Log(context.Background(), level, msg)
	}
}
