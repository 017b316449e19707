package hclconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/mailtwin/mailtwin/reconcile"
)

// excludeSpecialUse decodes exclude_special_use: a list of special-use
// attributes, each checked on its own, so a bad one is reported at its
// own line and column. They come back canonical (`\all` is `\All`),
// without repeats, in file order.
func (d *decoder) excludeSpecialUse(a *hcl.Attribute) ([]string, outcome) {
	v, o := d.value(a, cty.List(cty.String), false)
	if o != good {
		return nil, o
	}
	// The elements' own ranges, where the list is written out.
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() || len(exprs) != v.LengthInt() {
		exprs = nil
	}
	known := reconcile.SpecialUseAttributes()
	names := make([]string, len(known))
	for i, r := range known {
		names[i] = string(r)
	}
	out := []string{}
	ok := true
	for i, e := range v.AsValueSlice() {
		rng := a.Expr.Range()
		if exprs != nil {
			rng = exprs[i].Range()
		}
		if e.IsNull() {
			d.errorf(rng, "Invalid exclude_special_use", "The elements of exclude_special_use must not be null.")
			ok = false
			continue
		}
		s := e.AsString()
		r, known := reconcile.ParseSpecialUse(s)
		if !known {
			hint := ""
			if alt, k := reconcile.ParseSpecialUse(`\` + strings.TrimLeft(strings.TrimSpace(s), `\/`)); k {
				hint = fmt.Sprintf(` Did you mean %q? In HCL a backslash is written twice: "\\%s".`, alt, strings.TrimPrefix(string(alt), `\`))
			}
			d.errorf(rng, "Invalid exclude_special_use", "exclude_special_use lists special-use attributes, %s; got %q.%s", quoteList(names, "or"), s, hint)
			ok = false
			continue
		}
		if !slices.Contains(out, string(r)) {
			out = append(out, string(r))
		}
	}
	if !ok {
		return nil, bad
	}
	return out, good
}

// excludePolicies sets each pair's Policy.ExcludeSpecialUse from its
// accounts' exclude_special_use.
func excludePolicies(cfg *Config) {
	for i := range cfg.Pairs {
		p := &cfg.Pairs[i]
		for s, name := range [2]string{p.A, p.B} {
			acc := cfg.Account(name)
			if acc == nil || len(acc.ExcludeSpecialUse) == 0 {
				continue
			}
			roles := make([]reconcile.Role, len(acc.ExcludeSpecialUse))
			for j, x := range acc.ExcludeSpecialUse {
				roles[j] = reconcile.Role(x)
			}
			p.Policy.ExcludeSpecialUse[s] = roles
		}
	}
}
