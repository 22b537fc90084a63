package pkgdb

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// orderings lists versions in strictly increasing order per ecosystem.
var orderings = map[Ecosystem][][]string{
	Deb: {
		{"1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+b1", "1.0.1"},
		{"1.0~rc1-1", "1.0-1", "1.0-1+b1", "1.0-2", "1.0-10", "1.1-1"},
		{"2.36-9+deb12u9", "2.36-9+deb12u10"},
		{"9.9", "1:0.1", "1:1.0", "2:0"},
		{"1.2.13.dfsg-1", "1:1.2.13.dfsg-1"},
		{"5.2.15-2", "5.2.15-2+b8"},
		{"0.9", "0.10", "0.100"},
		{"a", "b", "+", "."},
		{"1.0-1~bpo1", "1.0-1"},
	},
	Apk: {
		{"1.0_alpha", "1.0_alpha2", "1.0_beta", "1.0_pre1", "1.0_rc1", "1.0", "1.0_cvs", "1.0_svn", "1.0_git", "1.0_hg", "1.0_p1", "1.0_p2"},
		{"1.0", "1.0-r1", "1.0-r2", "1.0-r10", "1.0a", "1.0b", "1.0.1"},
		{"1.36.1-r28", "1.36.1-r29", "1.36.2-r0"},
		{"3.3.2-r0", "3.3.2_p1-r0", "3.3.3-r0"},
		{"1.2", "1.10", "2.0"},
		{"0.9", "1.0_rc1", "1.0"},
	},
	RPM: {
		{"1.0~rc1-1", "1.0-1", "1.0^git1-1", "1.0.1-1"},
		{"1.0~~", "1.0~", "1.0", "1.0^", "1.0^a", "1.0a", "1.0.1"},
		{"1.0-1", "1.0-1.el8", "1.0-2", "1.0-10"},
		{"2.0-1", "1:1.0-1", "2:0.1-1"},
		{"a", "z", "0", "1", "10"},
		{"1.0a", "1.0.1"},
		{"2.34-2.cm2", "2.34-10.cm2"},
	},
}

func TestCompareVersionsOrderings(t *testing.T) {
	t.Parallel()
	for eco, lists := range orderings {
		for _, list := range lists {
			t.Run(fmt.Sprintf("%s/%s", eco, strings.Join(list, "<")), func(t *testing.T) {
				t.Parallel()
				for i, a := range list {
					for j, b := range list {
						want := sign(i - j)
						if got := CompareVersions(eco, a, b); got != want {
							t.Errorf("CompareVersions(%s, %q, %q) = %d, want %d", eco, a, b, got, want)
						}
					}
				}
			})
		}
	}
}

func TestCompareVersionsEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		eco  Ecosystem
		a, b string
	}{
		{Deb, "1.0", "1.0-0"},
		{Deb, "0:1.0", "1.0"},
		{Deb, "1.01", "1.1"},
		{Apk, "1.0", "1.0"},
		{RPM, "1.0-1", "0:1.0-1"},
		{RPM, "1.01", "1.1"},
		{RPM, "1_0", "1.0"},
		{"unknown", "x", "x"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s=%s", tt.eco, tt.a, tt.b), func(t *testing.T) {
			t.Parallel()
			if got := CompareVersions(tt.eco, tt.a, tt.b); got != 0 {
				t.Errorf("CompareVersions(%s, %q, %q) = %d, want 0", tt.eco, tt.a, tt.b, got)
			}
		})
	}
}

// TestCompareVersionsDpkgTool checks the dpkg ordering against the
// machine's own dpkg on every pair of a generated list.
func TestCompareVersionsDpkgTool(t *testing.T) {
	t.Parallel()
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg is not installed: the ordering is checked against known tables only")
	}
	var versions []string
	for _, e := range []string{"", "1:"} {
		for _, u := range []string{"1.0", "1.0~rc1", "1.0+dfsg", "1.00", "1.0a", "1.0.1", "1.0~", "2", "1.a"} {
			for _, r := range []string{"", "-1", "-1~bpo1", "-1+b1", "-0"} {
				versions = append(versions, e+u+r)
			}
		}
	}
	// Sorted by CompareVersions, every neighbour must be "lt" or "eq" for
	// dpkg too; dpkg's order being transitive, the whole order then agrees.
	slices.SortStableFunc(versions, func(a, b string) int { return CompareVersions(Deb, a, b) })
	var script bytes.Buffer
	for i := 1; i < len(versions); i++ {
		op := "lt"
		if CompareVersions(Deb, versions[i-1], versions[i]) == 0 {
			op = "eq"
		}
		fmt.Fprintf(&script, "%s --compare-versions '%s' %s '%s' && echo ok || echo \"%s %s %s\"\n", dpkg, versions[i-1], op, versions[i], versions[i-1], op, versions[i])
	}
	cmd := exec.CommandContext(t.Context(), "sh")
	cmd.Stdin = &script
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running dpkg --compare-versions: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(versions)-1 {
		t.Fatalf("dpkg gave %d answers, want %d", len(lines), len(versions)-1)
	}
	for _, l := range lines {
		if l != "ok" {
			t.Errorf("CompareVersions(deb) says %s, dpkg disagrees", l)
		}
	}
}

// TestCompareVersionsRPMTool checks the rpm ordering against rpm's own
// rpmvercmp (rpmdev-vercmp's engine, reached through rpm --eval).
func TestCompareVersionsRPMTool(t *testing.T) {
	t.Parallel()
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		t.Skip("rpm is not installed (Debian package rpm): the ordering is checked against known tables only")
	}
	versions := []string{"1.0", "1.0~rc1", "1.0^git1", "1.0a", "1.0.1", "1.0~", "1.0^", "2", "1.a", "1_0", "01.0", "1.0-1", "1.0-1.el8", "1:1.0-1"}
	var args []string
	for _, a := range versions {
		for _, b := range versions {
			args = append(args, "--eval", fmt.Sprintf("%%{lua: print(rpm.vercmp(%q, %q))}", a, b))
		}
	}
	out, err := exec.CommandContext(t.Context(), rpm, args...).Output()
	if err != nil {
		t.Fatalf("running rpm --eval: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(versions)*len(versions) {
		t.Fatalf("rpm gave %d answers, want %d", len(lines), len(versions)*len(versions))
	}
	i := 0
	for _, a := range versions {
		for _, b := range versions {
			want := map[string]int{"-1": -1, "0": 0, "1": 1}[lines[i]]
			i++
			if got := CompareVersions(RPM, a, b); got != want {
				t.Errorf("CompareVersions(rpm, %q, %q) = %d, rpm says %d", a, b, got, want)
			}
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	for eco, lists := range orderings {
		for _, list := range lists {
			for i := 1; i < len(list); i++ {
				f.Add(string(eco), list[i-1], list[i])
			}
		}
	}
	f.Add("apk", "1.0_", "1.0-r")
	f.Add("deb", "1:", ":1")
	f.Add("rpm", "^~", "~^")
	f.Fuzz(func(t *testing.T, eco, a, b string) {
		e := Ecosystem(eco)
		ab, ba := CompareVersions(e, a, b), CompareVersions(e, b, a)
		if !slices.Contains([]int{-1, 0, 1}, ab) {
			t.Fatalf("CompareVersions(%s, %q, %q) = %d", eco, a, b, ab)
		}
		if ab != -ba {
			t.Fatalf("not antisymmetric: CompareVersions(%s, %q, %q) = %d but reversed = %d", eco, a, b, ab, ba)
		}
		if CompareVersions(e, a, a) != 0 {
			t.Fatalf("CompareVersions(%s, %q, itself) != 0", eco, a)
		}
	})
}
