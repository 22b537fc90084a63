package gobin

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDiffGoExecutables compares two executables built here whose
// modules were upgraded, downgraded, added, removed and replaced.
func TestDiffGoExecutables(t *testing.T) {
	t.Parallel()
	goToolchain(t)
	proxy, modcache := t.TempDir(), t.TempDir()
	writeProxy(t, proxy, []testModule{libV120, libV130, oldV010, newPseudo, pinV100, downV150, downV140})
	read := func(path string) *Info {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		info, err := Read(f)
		if err != nil || info == nil {
			t.Fatalf("Read(%s) = %v, %v", path, info, err)
		}
		return info
	}
	a := read(buildProgram(t, proxy, modcache, programA, nil))
	b := read(buildProgram(t, proxy, modcache, programB, nil))

	got := Diff(a, b)
	want := Changes{Modules: []ModuleChange{
		{Path: "example.com/down", Kind: Downgraded, Before: "v1.5.0", After: "v1.4.0"},
		{Path: "example.com/fresh", Kind: Added, After: "v0.0.0-20260101000000-abcdefabcdef"},
		{Path: "example.com/lib", Kind: Upgraded, Before: "v1.2.0", After: "v1.3.0"},
		{Path: "example.com/old", Kind: Removed, Before: "v0.1.0"},
		{Path: "example.com/pinned", Kind: Changed, Before: "v1.0.0", After: "v1.0.0", AfterReplace: "./pinned"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if got := Diff(a, a); !got.Empty() {
		t.Errorf("Diff(a, a) = %+v, want no changes", got)
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	mod := func(path, version string) Module { return Module{Path: path, Version: version, Sum: "h1:" + version} }
	tests := []struct {
		name string
		a, b *Info
		want Changes
	}{
		{name: "same", a: &Info{GoVersion: "go1.26.8", Deps: []Module{mod("m", "v1.0.0")}}, b: &Info{GoVersion: "go1.26.8", Deps: []Module{mod("m", "v1.0.0")}}},
		{name: "both nil"},
		{
			name: "go version upgraded",
			a:    &Info{GoVersion: "go1.25.3"}, b: &Info{GoVersion: "go1.26.0"},
			want: Changes{GoVersion: &GoVersionChange{Before: "go1.25.3", After: "go1.26.0", Kind: Upgraded}},
		},
		{
			name: "go version downgraded, release candidate",
			a:    &Info{GoVersion: "go1.26.0"}, b: &Info{GoVersion: "go1.26rc1"},
			want: Changes{GoVersion: &GoVersionChange{Before: "go1.26.0", After: "go1.26rc1", Kind: Downgraded}},
		},
		{
			name: "go version with experiments",
			a:    &Info{GoVersion: "go1.26.0"}, b: &Info{GoVersion: "go1.26.0 X:nodwarf5"},
			want: Changes{GoVersion: &GoVersionChange{Before: "go1.26.0", After: "go1.26.0 X:nodwarf5", Kind: Changed}},
		},
		{
			name: "devel toolchain",
			a:    &Info{GoVersion: "devel go1.27-abcdef"}, b: &Info{GoVersion: "go1.26.0"},
			want: Changes{GoVersion: &GoVersionChange{Before: "devel go1.27-abcdef", After: "go1.26.0", Kind: Changed}},
		},
		{
			name: "pseudo-versions ordered",
			a:    &Info{Deps: []Module{mod("p", "v0.0.0-20250101000000-aaaaaaaaaaaa"), mod("q", "v1.2.4-0.20260101000000-bbbbbbbbbbbb"), mod("r", "v1.2.3")}},
			b:    &Info{Deps: []Module{mod("p", "v0.0.0-20260101000000-bbbbbbbbbbbb"), mod("q", "v1.2.3"), mod("r", "v1.2.4-0.20260101000000-bbbbbbbbbbbb")}},
			want: Changes{Modules: []ModuleChange{
				{Path: "p", Kind: Upgraded, Before: "v0.0.0-20250101000000-aaaaaaaaaaaa", After: "v0.0.0-20260101000000-bbbbbbbbbbbb"},
				{Path: "q", Kind: Downgraded, Before: "v1.2.4-0.20260101000000-bbbbbbbbbbbb", After: "v1.2.3"},
				{Path: "r", Kind: Upgraded, Before: "v1.2.3", After: "v1.2.4-0.20260101000000-bbbbbbbbbbbb"},
			}},
		},
		{
			name: "incompatible and prerelease",
			a:    &Info{Deps: []Module{mod("i", "v2.0.0+incompatible"), mod("pre", "v1.0.0-rc.2")}},
			b:    &Info{Deps: []Module{mod("i", "v3.1.0+incompatible"), mod("pre", "v1.0.0-rc.10")}},
			want: Changes{Modules: []ModuleChange{
				{Path: "i", Kind: Upgraded, Before: "v2.0.0+incompatible", After: "v3.1.0+incompatible"},
				{Path: "pre", Kind: Upgraded, Before: "v1.0.0-rc.2", After: "v1.0.0-rc.10"},
			}},
		},
		{
			name: "same version, other checksum",
			a:    &Info{Deps: []Module{{Path: "s", Version: "v1.0.0", Sum: "h1:one="}}},
			b:    &Info{Deps: []Module{{Path: "s", Version: "v1.0.0", Sum: "h1:two="}}},
			want: Changes{Modules: []ModuleChange{{Path: "s", Kind: Changed, Before: "v1.0.0", After: "v1.0.0"}}},
		},
		{
			name: "replacement changed",
			a:    &Info{Deps: []Module{{Path: "s", Version: "v1.0.0", Replace: &Module{Path: "fork/s", Version: "v1.0.1", Sum: "h1:x="}}}},
			b:    &Info{Deps: []Module{{Path: "s", Version: "v1.0.0", Replace: &Module{Path: "../s"}}}},
			want: Changes{Modules: []ModuleChange{{Path: "s", Kind: Changed, Before: "v1.0.0", After: "v1.0.0", BeforeReplace: "fork/s v1.0.1", AfterReplace: "../s"}}},
		},
		{
			name: "not semantic versions",
			a:    &Info{Deps: []Module{mod("d", "(devel)")}},
			b:    &Info{Deps: []Module{mod("d", "v1.0.0")}},
			want: Changes{Modules: []ModuleChange{{Path: "d", Kind: Changed, Before: "(devel)", After: "v1.0.0"}}},
		},
		{
			name: "nil before: everything added",
			b:    &Info{GoVersion: "go1.26.0", Path: "example.com/app/cmd/x", Main: Module{Path: "example.com/app", Version: "v1.0.0"}, Deps: []Module{mod("m", "v1.0.0")}},
			want: Changes{
				GoVersion: &GoVersionChange{After: "go1.26.0", Kind: Changed},
				Path:      &[2]string{"", "example.com/app/cmd/x"},
				Main:      &ModuleChange{Path: "example.com/app", Kind: Added, After: "v1.0.0"},
				Modules:   []ModuleChange{{Path: "m", Kind: Added, After: "v1.0.0"}},
			},
		},
		{
			name: "main module version from a tag",
			a:    &Info{Main: Module{Path: "example.com/app", Version: "v1.4.0"}},
			b:    &Info{Main: Module{Path: "example.com/app", Version: "v1.5.0-rc.1"}},
			want: Changes{Main: &ModuleChange{Path: "example.com/app", Kind: Upgraded, Before: "v1.4.0", After: "v1.5.0-rc.1"}},
		},
		{
			name: "settings",
			a:    &Info{Settings: []Setting{{"CGO_ENABLED", "1"}, {"vcs.revision", "aaa"}, {"-trimpath", "true"}}},
			b:    &Info{Settings: []Setting{{"CGO_ENABLED", "0"}, {"vcs.revision", "bbb"}, {"-ldflags", "-s -w"}}},
			want: Changes{Settings: []SettingChange{
				{Key: "-ldflags", After: "-s -w"},
				{Key: "-trimpath", Before: "true"},
				{Key: "CGO_ENABLED", Before: "1", After: "0"},
				{Key: "vcs.revision", Before: "aaa", After: "bbb"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Diff(tt.a, tt.b)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
			if got.Empty() != cmp.Equal(tt.want, Changes{}) {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}
