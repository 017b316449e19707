package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/reconcile"
)

// folderSide is one side of a folder pair in folders --json.
type folderSide struct {
	Mailbox string `json:"mailbox,omitempty"`
	// Messages is the count LIST-STATUS gave; absent when unknown.
	Messages   *int     `json:"messages,omitempty"`
	SpecialUse []string `json:"special_use,omitempty"`
}

// folderReport is one folder pair in folders --json.
type folderReport struct {
	Name string     `json:"name"`
	A    folderSide `json:"a"`
	B    folderSide `json:"b"`
	// Match is how B's folder pairs with A's: name, map, special-use;
	// absent when only one side has it.
	Match     string `json:"match,omitempty"`
	Rule      string `json:"rule"`
	Direction string `json:"direction"`
	Deletion  string `json:"deletion"`
	// Synced is false for folders a run leaves alone; Reason says why.
	Synced bool   `json:"synced"`
	Reason string `json:"reason,omitempty"`
	// Create names the side a run makes the folder on, if any.
	Create string `json:"create,omitempty"`
}

// foldersReport is one pair in folders --json.
type foldersReport struct {
	Pair    string         `json:"pair"`
	A       string         `json:"a"`
	B       string         `json:"b"`
	Folders []folderReport `json:"folders"`
	// Outside lists, per side, the folders outside its prefix.
	Outside map[string][]string `json:"outside,omitempty"`
	Error   string              `json:"error,omitempty"`
}

// cmdFolders is `mailtwin folders`: per pair, how the two accounts'
// folders line up, as a run would pair them. It only lists (LIST with
// STATUS, read-only connections) and reads no state.
func cmdFolders(ctx context.Context, g *globalOptions) error {
	cfg, pairs, err := loadPairs(g)
	if err != nil {
		return err
	}
	lists, err := listAccounts(ctx, g, cfg, pairs)
	if err != nil {
		return err
	}
	var reports []foldersReport
	var errs []error
	for i, p := range pairs {
		lu, lerr := reconcile.LineUp(lists[p.A], lists[p.B], p.Policy)
		if lerr != nil {
			lerr = fmt.Errorf("pair %q: %w", p.Name, lerr)
			errs = append(errs, lerr)
		}
		rep := folderLines(p, lu)
		if lerr != nil {
			rep.Error = lerr.Error()
		}
		reports = append(reports, rep)
		if !g.json {
			if i > 0 {
				fmt.Fprintln(g.stdout)
			}
			printFolders(g.stdout, cfg, p, rep)
		}
	}
	if g.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Pairs []foldersReport `json:"pairs"`
		}{reports}); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// listAccounts lists the folders of every account of pairs, each once,
// all at once, over read-only connections.
func listAccounts(ctx context.Context, g *globalOptions, cfg *hclconfig.Config, pairs []*hclconfig.Pair) (map[string]reconcile.Listing, error) {
	var names []string
	for _, p := range pairs {
		for _, n := range []string{p.A, p.B} {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	lists := make([]reconcile.Listing, len(names))
	errs := make([]error, len(names))
	var traceMu sync.Mutex
	var wg sync.WaitGroup
	for i, name := range names {
		var debug io.Writer
		if g.verbose >= 2 {
			debug = &traceWriter{mu: &traceMu, log: g.log, account: name}
		}
		wg.Go(func() {
			st, err := dialAccount(ctx, cfg.Account(name), true, debug)
			if err != nil {
				errs[i] = fmt.Errorf("account %q: %w", name, err)
				return
			}
			defer st.Close()
			if lists[i], err = st.List(ctx); err != nil {
				errs[i] = fmt.Errorf("account %q: %w", name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make(map[string]reconcile.Listing, len(names))
	for i, n := range names {
		out[n] = lists[i]
	}
	return out, nil
}

// folderLines turns a lineup into the report of pair p; lu may be nil
// (the folders could not be paired).
func folderLines(p *hclconfig.Pair, lu *reconcile.Lineup) foldersReport {
	rep := foldersReport{Pair: p.Name, A: p.A, B: p.B, Folders: []folderReport{}}
	if lu == nil {
		return rep
	}
	for _, f := range lu.Folders {
		fr := folderReport{Name: f.Name, Match: f.Match, Rule: "defaults",
			Direction: f.Policy.Direction.String(), Deletion: f.Policy.Deletion.String(), Synced: true}
		if f.Rule >= 0 {
			fr.Rule = p.Policy.Rules[f.Rule].Pattern
		}
		for s, side := range []*folderSide{&fr.A, &fr.B} {
			side.Mailbox = f.Mailbox[s]
			if f.Mailbox[s] != "" && f.Messages[s] >= 0 {
				n := f.Messages[s]
				side.Messages = &n
			}
			for _, r := range f.SpecialUse[s] {
				side.SpecialUse = append(side.SpecialUse, string(r))
			}
		}
		switch {
		case f.Excluded != nil:
			fr.Synced = false
			fr.Reason = fmt.Sprintf("excluded: %s on %s (%s's exclude_special_use)", f.Excluded.Attr, f.Excluded.Side, accountOf(p, f.Excluded.Side))
		case f.Policy.Direction == reconcile.None:
			fr.Synced = false
			fr.Reason = fmt.Sprintf("direction none (rule %q)", fr.Rule)
			if f.Rule < 0 {
				fr.Reason = "direction none (the pair's defaults)"
			}
		default:
			for s := range 2 {
				other := reconcile.Side(s).Other()
				if f.Mailbox[s] != "" && f.Mailbox[other] == "" && f.Policy.Direction.Flows(reconcile.Side(s)) {
					fr.Create = other.String()
				}
			}
		}
		rep.Folders = append(rep.Folders, fr)
	}
	for s, mbs := range lu.Outside {
		if len(mbs) > 0 {
			if rep.Outside == nil {
				rep.Outside = map[string][]string{}
			}
			rep.Outside[reconcile.Side(s).String()] = mbs
		}
	}
	return rep
}

func accountOf(p *hclconfig.Pair, s reconcile.Side) string {
	if s == reconcile.A {
		return p.A
	}
	return p.B
}

// printFolders writes one pair's report as text: a table of the folder
// pairs a run syncs, then the folders it leaves alone and why.
func printFolders(w io.Writer, cfg *hclconfig.Config, p *hclconfig.Pair, rep foldersReport) {
	fmt.Fprintf(w, "pair %q: a = %s (%s), b = %s (%s)\n", p.Name, p.A, accountLabel(cfg.Account(p.A)), p.B, accountLabel(cfg.Account(p.B)))
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  A\tB\tMATCH\tRULE\tDIRECTION\tDELETION\tMSGS A\tMSGS B\tSPECIAL-USE")
	var skipped []folderReport
	synced := 0
	for _, f := range rep.Folders {
		if !f.Synced {
			skipped = append(skipped, f)
			continue
		}
		synced++
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			mailboxCell(f.A.Mailbox, f.Create == "a"), mailboxCell(f.B.Mailbox, f.Create == "b"),
			dashIfEmpty(f.Match), f.Rule, f.Direction, f.Deletion,
			count(f.A), count(f.B), roles(f.A.SpecialUse, f.B.SpecialUse))
	}
	if synced == 0 {
		fmt.Fprintln(tw, "  (no folder is synced)")
	}
	tw.Flush()
	io.WriteString(w, trimLines(table.String()))
	outside := len(rep.Outside["a"]) + len(rep.Outside["b"])
	if len(skipped) > 0 || outside > 0 {
		fmt.Fprintln(w, "\nnot synced:")
		table.Reset()
		tw = tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		for _, f := range skipped {
			fmt.Fprintf(tw, "  %s\t%s\n", sides(f.A.Mailbox, f.B.Mailbox), f.Reason)
		}
		for _, s := range []string{"a", "b"} {
			for _, mb := range rep.Outside[s] {
				prefix := p.Policy.Naming.Prefix[0]
				if s == "b" {
					prefix = p.Policy.Naming.Prefix[1]
				}
				fmt.Fprintf(tw, "  %s\toutside %s_prefix %q\n", sideMailbox(s, mb), s, prefix)
			}
		}
		tw.Flush()
		io.WriteString(w, trimLines(table.String()))
	}
	if rep.Error != "" {
		fmt.Fprintf(w, "\nthe pair cannot be synced as it is: %s\n", rep.Error)
	}
}

// accountLabel is user@host[:port] of an account.
func accountLabel(acc *hclconfig.Account) string {
	def := 993
	if acc.TLS != hclconfig.TLSImplicit {
		def = 143
	}
	host := acc.Host
	if acc.Port != def {
		host = acc.Address()
	}
	return acc.Username + "@" + host
}

// mailboxCell is a folder's name in the table: "-" when the side has
// none, "(new)" when a run makes it there.
func mailboxCell(mb string, created bool) string {
	switch {
	case mb != "":
		return mb
	case created:
		return "(new)"
	}
	return "-"
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func count(s folderSide) string {
	switch {
	case s.Mailbox == "":
		return "-"
	case s.Messages == nil:
		return "?"
	}
	return strconv.Itoa(*s.Messages)
}

// roles renders the special-use attributes of both sides: once when they
// agree, "A / B" when they differ, "" when neither has any.
func roles(a, b []string) string {
	x, y := strings.Join(a, ","), strings.Join(b, ",")
	switch {
	case x == y:
		return x
	case x == "":
		x = "-"
	case y == "":
		y = "-"
	}
	return x + " / " + y
}

// sides names a folder pair by the mailboxes its sides list.
func sides(a, b string) string {
	switch {
	case a != "" && b != "" && a == b:
		return fmt.Sprintf("%s (a, b)", a)
	case a != "" && b != "":
		return fmt.Sprintf("%s (a), %s (b)", a, b)
	case a != "":
		return sideMailbox("a", a)
	}
	return sideMailbox("b", b)
}

func sideMailbox(side, mb string) string { return fmt.Sprintf("%s (%s)", mb, side) }

// trimLines drops the spaces tabwriter leaves at the end of lines whose
// last cells are empty.
func trimLines(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line != "" {
			b.WriteString(strings.TrimRightFunc(line, unicode.IsSpace) + "\n")
		}
	}
	return b.String()
}
