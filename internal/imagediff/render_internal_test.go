package imagediff

import "testing"

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"usr/bin/env", "usr/bin/env"},
		{"caf\u00e9/\u65e5\u672c", "caf\u00e9/\u65e5\u672c"},
		{"a\x1b[31mred", `a\x1b[31mred`},
		{"name\xff\xfe.txt", `name\xff\xfe.txt`},
		{"c1\u0085x", `c1\x85x`},
		{"del\x7f", `del\x7f`},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
