package reconcile_test

import (
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

func TestParseLimit(t *testing.T) {
	for _, tt := range []struct {
		in    string
		ok    bool
		allow [2]int // n, total that must be allowed
		deny  [2]int // n, total that must be refused
	}{
		{"50%", true, [2]int{5, 10}, [2]int{6, 10}},
		{"12.5%", true, [2]int{1, 8}, [2]int{2, 8}},
		{"3", true, [2]int{3, 1000}, [2]int{4, 1000}},
		{"0", true, [2]int{0, 10}, [2]int{1, 10}},
		{"100%", true, [2]int{10, 10}, [2]int{11, 10}},
		{"NaN%", false, [2]int{}, [2]int{}},
		{"Inf%", false, [2]int{}, [2]int{}},
		{"0x1p-2%", false, [2]int{}, [2]int{}},
		{"120%", false, [2]int{}, [2]int{}},
		{"-1", false, [2]int{}, [2]int{}},
		{"lots", false, [2]int{}, [2]int{}},
	} {
		l, err := reconcile.ParseLimit(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseLimit(%q) = %v, %v; want ok=%v", tt.in, l, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		if !l.Allows(tt.allow[0], tt.allow[1]) || l.Allows(tt.deny[0], tt.deny[1]) {
			t.Errorf("ParseLimit(%q) = %v: Allows(%v) must hold and Allows(%v) must not", tt.in, l, tt.allow, tt.deny)
		}
	}
}
