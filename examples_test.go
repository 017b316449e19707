package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"gopkg.in/yaml.v3"

	"github.com/mailtwin/mailtwin/hclconfig"
)

// TestExamplesParse decodes every file in examples/ with all environment
// variables set, so an example never rots.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("examples/*.hcl")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples/*.hcl = %v, %v; want at least three examples", files, err)
	}
	env := func(name string) (string, bool) { return "value-of-" + name, true }
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, diags, files := hclconfig.Load(f, hclconfig.Options{LookupEnv: env})
			// file() of an absolute secret path is allowed to fail here:
			// the secret does not exist on a test machine. Nothing else is.
			var real []string
			for _, d := range diags {
				if d.Severity == hcl.DiagError && !strings.Contains(d.Detail+d.Summary, "/run/secrets/") {
					var b bytes.Buffer
					hclconfig.WriteDiagnostics(&b, hcl.Diagnostics{d}, files)
					real = append(real, b.String())
				}
			}
			if len(real) > 0 {
				t.Fatalf("%s does not validate:\n%s", f, strings.Join(real, "\n"))
			}
			if cfg != nil && len(cfg.Pairs) == 0 {
				t.Errorf("%s has no pair", f)
			}
		})
	}
}

// TestDemo runs the demo and checks it tells the whole story: a first
// sync, changes on both sides, their plan, the apply, a settled plan and
// the log.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"demo"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("demo exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"=== mailtwin apply  (first sync",
		`+ create folder "Work" on b`,
		"=== mailtwin plan  (read-only",
		`+ b:"INBOX" <- a:"INBOX"`,                               // new mail on a
		`+ a:"Invoices" <- b:"Invoices"`,                         // new mail on b
		`~ b:"Work" uid`,                                         // the flag set on a
		`- a:"Invoices" uid 1 -> "Trash"`,                        // the deletion on b, trash policy
		`> rename folder "Receipts" -> "Invoices" on a`,          // the rename on b
		`> b:"INBOX" -> "Work" (2 messages: uid 6:7; moved on o`, // the moves on a
		"=== mailtwin plan  (nothing left to do",
		`pair "work-backup": no changes`,
		"=== mailtwin log",
		"=== mailtwin show HEAD",
		`> b:"INBOX" uid 6 -> "Work" m:`, // the journal's move, by UID and identity
		"=== mailtwin diff HEAD^",
		`"Invoices" (renamed from "Receipts")`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
}

// yamlDocs decodes every document of a YAML file into generic values.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// dig follows keys (strings for maps, ints for lists) into v, failing
// the test when one is missing.
func dig(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for i, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %v", keys[:i], keys[:i+1])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("no %v", keys[:i+1])
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("no %v", keys[:i+1])
			}
			v = l[k]
		}
	}
	return v
}

var envCall = regexp.MustCompile(`env\("([A-Za-z_][A-Za-z0-9_]*)"\)`)

// checkExampleConfig loads an example configuration and returns the
// environment variables it needs: those its env() calls read and its
// token_env. It must have a remote.
func checkExampleConfig(t *testing.T, path string) map[string]bool {
	t.Helper()
	all := func(name string) (string, bool) { return "value-of-" + name, true }
	cfg, diags, files := hclconfig.Load(path, hclconfig.Options{LookupEnv: all})
	if diags.HasErrors() {
		var b bytes.Buffer
		hclconfig.WriteDiagnostics(&b, diags, files)
		t.Fatalf("%s does not validate:\n%s", path, b.String())
	}
	if cfg.State.Remote == "" || cfg.State.TokenEnv == "" {
		t.Errorf("%s: state has no remote or no token_env: %+v", path, cfg.State)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	need := map[string]bool{cfg.State.TokenEnv: true}
	for _, m := range envCall.FindAllStringSubmatch(string(src), -1) {
		need[m[1]] = true
	}
	return need
}

// TestExampleKubernetesCronJob: the CronJob runs an Indexed Job with
// one pod per shard, pod I passing --shard $(JOB_COMPLETION_INDEX)/N;
// every password and the token come from a Secret, never written out;
// and the ConfigMap's configuration is examples/kubernetes.hcl, which
// validates and gets every variable it reads.
func TestExampleKubernetesCronJob(t *testing.T) {
	docs := yamlDocs(t, "examples/kubernetes-cronjob.yaml")
	var cm, cj map[string]any
	for _, d := range docs {
		switch d["kind"] {
		case "ConfigMap":
			cm = d
		case "CronJob":
			cj = d
		}
	}
	if cm == nil || cj == nil {
		t.Fatalf("want a ConfigMap and a CronJob, got %d documents", len(docs))
	}
	hclFile, err := os.ReadFile("examples/kubernetes.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if got := dig(t, cm, "data", "mailtwin.hcl"); got != string(hclFile) {
		t.Errorf("the ConfigMap's mailtwin.hcl differs from examples/kubernetes.hcl")
	}
	need := checkExampleConfig(t, "examples/kubernetes.hcl")

	job := dig(t, cj, "spec", "jobTemplate", "spec")
	if got := dig(t, job, "completionMode"); got != "Indexed" {
		t.Errorf("completionMode = %v, want Indexed", got)
	}
	n, _ := dig(t, job, "completions").(int)
	if p := dig(t, job, "parallelism"); n < 2 || p != n {
		t.Errorf("completions = %d, parallelism = %v; want the same shard count, 2 or more", n, p)
	}
	if got := dig(t, cj, "spec", "concurrencyPolicy"); got != "Forbid" {
		t.Errorf("concurrencyPolicy = %v, want Forbid (runs must not overlap)", got)
	}
	c := dig(t, job, "template", "spec", "containers", 0)
	var args []string
	for _, a := range dig(t, c, "args").([]any) {
		args = append(args, fmt.Sprint(a))
	}
	want := fmt.Sprintf("--shard $(JOB_COMPLETION_INDEX)/%d", n)
	if !strings.Contains(strings.Join(args, " "), want) || !slices.Contains(args, "apply") {
		t.Errorf("args = %q, want apply and %q", args, want)
	}
	given := map[string]bool{}
	for _, e := range dig(t, c, "env").([]any) {
		name := fmt.Sprint(dig(t, e, "name"))
		given[name] = true
		em := e.(map[string]any)
		if _, literal := em["value"]; literal {
			t.Errorf("env %s has a literal value; secrets come from secretKeyRef", name)
			continue
		}
		ref := dig(t, e, "valueFrom", "secretKeyRef").(map[string]any)
		if ref["name"] == nil || ref["key"] == nil {
			t.Errorf("env %s: secretKeyRef without name or key", name)
		}
	}
	for v := range need {
		if !given[v] {
			t.Errorf("the configuration reads %s, which the container does not get", v)
		}
	}
}

// TestExampleGitHubActions: the workflow runs on a schedule, one job per
// shard of a matrix, each passing --shard ${{ matrix.shard }}/N with N
// the matrix's size, and gives the configuration (examples/ci.hcl)
// every variable it reads, from the repository's secrets.
func TestExampleGitHubActions(t *testing.T) {
	docs := yamlDocs(t, "examples/github-actions.yml")
	if len(docs) != 1 {
		t.Fatalf("want one document, got %d", len(docs))
	}
	wf := docs[0]
	if cron := dig(t, wf, "on", "schedule", 0, "cron"); cron == "" {
		t.Errorf("no schedule")
	}
	job := dig(t, wf, "jobs", "sync")
	shards := dig(t, job, "strategy", "matrix", "shard").([]any)
	for i, s := range shards {
		if s != i {
			t.Errorf("matrix.shard = %v, want 0 to N-1", shards)
			break
		}
	}
	need := checkExampleConfig(t, "examples/ci.hcl")
	var run map[string]any
	for _, s := range dig(t, job, "steps").([]any) {
		if r, ok := s.(map[string]any)["run"].(string); ok && strings.Contains(r, " apply") {
			run = s.(map[string]any)
		}
	}
	if run == nil {
		t.Fatal("no step runs mailtwin apply")
	}
	cmd := run["run"].(string)
	if want := fmt.Sprintf("--shard ${{ matrix.shard }}/%d", len(shards)); !strings.Contains(cmd, want) || !strings.Contains(cmd, "examples/ci.hcl") {
		t.Errorf("run = %q, want -c examples/ci.hcl and %q", cmd, want)
	}
	env, _ := run["env"].(map[string]any)
	for v := range need {
		val, ok := env[v].(string)
		if !ok {
			t.Errorf("the configuration reads %s, which the step does not set", v)
			continue
		}
		if val != "${{ secrets."+v+" }}" {
			t.Errorf("env %s = %q, want it from secrets.%s", v, val, v)
		}
	}
}

// TestExampleProviders: each provider has its example, which validates
// and whose first account uses that provider's preset, logging in as the
// provider wants (OAuth2 for Gmail's and Microsoft's examples, a
// password elsewhere).
func TestExampleProviders(t *testing.T) {
	want := map[string]struct {
		auth  string
		token bool
	}{
		"gmail":    {hclconfig.AuthXOAuth2, true},
		"outlook":  {hclconfig.AuthXOAuth2, true},
		"fastmail": {hclconfig.AuthDefault, false},
		"icloud":   {hclconfig.AuthDefault, false},
		"yahoo":    {hclconfig.AuthDefault, false},
	}
	for _, p := range hclconfig.Presets() {
		t.Run(p.Name, func(t *testing.T) {
			w, ok := want[p.Name]
			if !ok {
				t.Fatalf("no expectation for the preset %q: add it here and examples/%s.hcl", p.Name, p.Name)
			}
			path := filepath.Join("examples", p.Name+".hcl")
			env := func(name string) (string, bool) { return "value-of-" + name, true }
			cfg, diags, files := hclconfig.Load(path, hclconfig.Options{LookupEnv: env})
			if diags.HasErrors() {
				var b bytes.Buffer
				hclconfig.WriteDiagnostics(&b, diags, files)
				t.Fatalf("%s does not validate:\n%s", path, b.String())
			}
			acc := cfg.Accounts[0]
			if acc.Provider != p.Name || acc.Host != p.Host || acc.Port != p.Port || acc.TLS != p.TLS {
				t.Errorf("%s: first account %q has provider %q at %s (%v); want the %s preset, %s:%d (%v)", path, acc.Name, acc.Provider, acc.Address(), acc.TLS, p.Name, p.Host, p.Port, p.TLS)
			}
			hasToken := acc.OAuth2 != nil || len(acc.TokenCommand) > 0
			if acc.Auth != w.auth || hasToken != w.token {
				t.Errorf("%s: account %q has auth %q (token source %v), want %q (%v)", path, acc.Name, acc.Auth, hasToken, w.auth, w.token)
			}
			if !slices.Equal(acc.ExcludeSpecialUse, p.ExcludeSpecialUse) {
				t.Errorf("%s: account %q excludes %q, want the preset's %q", path, acc.Name, acc.ExcludeSpecialUse, p.ExcludeSpecialUse)
			}
		})
	}
}
