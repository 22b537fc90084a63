package pkgdb

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	deb := func(name, version, arch, source string) Package { return Package{Deb, name, version, arch, source} }
	rpm := func(name, version, arch string) Package { return Package{RPM, name, version, arch, name} }
	tests := []struct {
		name string
		a, b []Package
		want []Change
	}{
		{name: "nothing", want: nil},
		{
			name: "identical, in another order",
			a:    []Package{deb("a", "1", "amd64", "a"), deb("b", "1", "all", "b")},
			b:    []Package{deb("b", "1", "all", "b"), deb("a", "1", "amd64", "a")},
			want: nil,
		},
		{
			name: "added, removed, upgraded, downgraded",
			a: []Package{
				deb("gone", "1", "amd64", "gone"),
				deb("up", "1.0~rc1", "amd64", "up"),
				deb("down", "1:1.0", "amd64", "down"),
				{Apk, "musl", "1.2.5-r0", "x86_64", "musl"},
			},
			b: []Package{
				deb("new", "2", "amd64", "new"),
				deb("up", "1.0", "amd64", "up"),
				deb("down", "2.0", "amd64", "down"),
				{Apk, "musl", "1.2.5-r1", "x86_64", "musl"},
			},
			want: []Change{
				{Ecosystem: Apk, Name: "musl", Arch: "x86_64", Kind: Upgraded, Before: "1.2.5-r0", After: "1.2.5-r1"},
				{Ecosystem: Deb, Name: "down", Arch: "amd64", Kind: Downgraded, Before: "1:1.0", After: "2.0"},
				{Ecosystem: Deb, Name: "gone", Arch: "amd64", Kind: Removed, Before: "1"},
				{Ecosystem: Deb, Name: "new", Arch: "amd64", Kind: Added, After: "2"},
				{Ecosystem: Deb, Name: "up", Arch: "amd64", Kind: Upgraded, Before: "1.0~rc1", After: "1.0"},
			},
		},
		{
			name: "same version, other source",
			a:    []Package{deb("libfoo", "1", "amd64", "foo")},
			b:    []Package{deb("libfoo", "1", "amd64", "foo2")},
			want: []Change{{Ecosystem: Deb, Name: "libfoo", Arch: "amd64", Kind: Changed, Before: "1", After: "1", BeforeSource: "foo", AfterSource: "foo2"}},
		},
		{
			name: "equal versions spelt differently",
			a:    []Package{deb("x", "0:1.0", "amd64", "x")},
			b:    []Package{deb("x", "1.0", "amd64", "x")},
			want: []Change{{Ecosystem: Deb, Name: "x", Arch: "amd64", Kind: Changed, Before: "0:1.0", After: "1.0"}},
		},
		{
			name: "architecture changed",
			a:    []Package{deb("tzdata", "1", "amd64", "tzdata")},
			b:    []Package{deb("tzdata", "2", "all", "tzdata")},
			want: []Change{{Ecosystem: Deb, Name: "tzdata", Arch: "all", Kind: Upgraded, Before: "1", After: "2", BeforeArch: "amd64"}},
		},
		{
			name: "multi-arch: one architecture added",
			a:    []Package{deb("libc6", "2.36", "amd64", "glibc")},
			b:    []Package{deb("libc6", "2.36", "amd64", "glibc"), deb("libc6", "2.36", "i386", "glibc")},
			want: []Change{{Ecosystem: Deb, Name: "libc6", Arch: "i386", Kind: Added, After: "2.36"}},
		},
		{
			name: "several kernels: one kept, one replaced by two",
			a:    []Package{rpm("kernel", "5.14.0-1", "x86_64"), rpm("kernel", "5.14.0-2", "x86_64")},
			b:    []Package{rpm("kernel", "5.14.0-2", "x86_64"), rpm("kernel", "5.14.0-3", "x86_64"), rpm("kernel", "5.14.0-4", "x86_64")},
			want: []Change{
				{Ecosystem: RPM, Name: "kernel", Arch: "x86_64", Kind: Added, After: "5.14.0-3"},
				{Ecosystem: RPM, Name: "kernel", Arch: "x86_64", Kind: Added, After: "5.14.0-4"},
				{Ecosystem: RPM, Name: "kernel", Arch: "x86_64", Kind: Removed, Before: "5.14.0-1"},
			},
		},
		{
			name: "several kernels: one replaced",
			a:    []Package{rpm("kernel", "5.14.0-1", "x86_64"), rpm("kernel", "5.14.0-2", "x86_64")},
			b:    []Package{rpm("kernel", "5.14.0-2", "x86_64"), rpm("kernel", "5.14.0-10", "x86_64")},
			want: []Change{{Ecosystem: RPM, Name: "kernel", Arch: "x86_64", Kind: Upgraded, Before: "5.14.0-1", After: "5.14.0-10"}},
		},
		{
			name: "exact duplicates count once",
			a:    []Package{rpm("a", "1-1", "noarch"), rpm("a", "1-1", "noarch")},
			b:    []Package{rpm("a", "1-1", "noarch")},
			want: nil,
		},
		{
			name: "same name in two ecosystems",
			a:    []Package{{Apk, "zlib", "1.3-r0", "x86_64", "zlib"}},
			b:    []Package{{Apk, "zlib", "1.3-r0", "x86_64", "zlib"}, deb("zlib", "1.3", "x86_64", "zlib")},
			want: []Change{{Ecosystem: Deb, Name: "zlib", Arch: "x86_64", Kind: Added, After: "1.3"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Diff(tt.a, tt.b)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
			// The reverse diff mirrors the changes.
			if back := Diff(tt.b, tt.a); len(back) != len(got) {
				t.Errorf("Diff(b, a) has %d changes, Diff(a, b) %d", len(back), len(got))
			}
		})
	}
}

func TestChangeJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Change{Ecosystem: Deb, Name: "bash", Arch: "amd64", Kind: Upgraded, Before: "5.2-1", After: "5.2-2"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ecosystem":"deb","name":"bash","arch":"amd64","kind":"upgraded","before":"5.2-1","after":"5.2-2"}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
}
