package gobin

import (
	"cmp"
	"go/version"
	"slices"

	"golang.org/x/mod/semver"
)

// ChangeKind says how a module (or the Go version) differs between two
// executables.
type ChangeKind string

// Change kinds.
const (
	// Added: only the second executable has the module.
	Added ChangeKind = "added"
	// Removed: only the first executable has the module.
	Removed ChangeKind = "removed"
	// Upgraded: the second executable has a later version.
	Upgraded ChangeKind = "upgraded"
	// Downgraded: the second executable has an earlier version.
	Downgraded ChangeKind = "downgraded"
	// Changed: the versions are not ordered (equal semantic versions with
	// other build metadata, or text that is not a semantic version), or the
	// version is the same and the checksum or the replacement differs.
	Changed ChangeKind = "changed"
)

// ModuleChange is one module that differs between two executables.
type ModuleChange struct {
	Path string     `json:"path"`
	Kind ChangeKind `json:"kind"`
	// Before and After are the module's versions in the first and the
	// second executable, "" where it is absent.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// BeforeReplace and AfterReplace name the replacement module
	// ("path version", or a directory), "" when there is none.
	BeforeReplace string `json:"beforeReplace,omitempty"`
	AfterReplace  string `json:"afterReplace,omitempty"`
}

// SettingChange is one build setting that differs; Before or After is
// absent ("") when only one executable has it.
type SettingChange struct {
	Key    string `json:"key"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// GoVersionChange is the toolchain version of both executables.
type GoVersionChange struct {
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Kind is Upgraded, Downgraded or Changed (versions go/version cannot
	// order, or one missing).
	Kind ChangeKind `json:"kind"`
}

// Changes is what differs between the build information of two
// executables. The zero value means no difference.
type Changes struct {
	// GoVersion is nil when both were built by the same toolchain.
	GoVersion *GoVersionChange `json:"goVersion,omitempty"`
	// Path is the main package path of both when it differs.
	Path *[2]string `json:"path,omitempty"`
	// Main is the main module's change (its version is set from version
	// control tags since Go 1.24); nil when it is the same.
	Main *ModuleChange `json:"main,omitempty"`
	// Modules are the dependencies that differ, sorted by path.
	Modules []ModuleChange `json:"modules,omitempty"`
	// Settings are the build settings that differ, sorted by key.
	Settings []SettingChange `json:"settings,omitempty"`
}

// Empty reports whether nothing differs.
func (c Changes) Empty() bool {
	return c.GoVersion == nil && c.Path == nil && c.Main == nil && len(c.Modules) == 0 && len(c.Settings) == 0
}

// Diff compares the build information of two executables, a before b. A
// nil Info stands for an executable without build information: every
// module of the other one is then added or removed.
func Diff(a, b *Info) Changes {
	if a == nil {
		a = &Info{}
	}
	if b == nil {
		b = &Info{}
	}
	var c Changes
	if a.GoVersion != b.GoVersion {
		c.GoVersion = &GoVersionChange{Before: a.GoVersion, After: b.GoVersion, Kind: goVersionKind(a.GoVersion, b.GoVersion)}
	}
	if a.Path != b.Path {
		c.Path = &[2]string{a.Path, b.Path}
	}
	if a.Main.Path != "" || b.Main.Path != "" {
		c.Main = moduleChange(a.Main.Path, &a.Main, b.Main.Path, &b.Main)
	}
	c.Modules = diffModules(a.Deps, b.Deps)
	c.Settings = diffSettings(a.Settings, b.Settings)
	return c
}

func goVersionKind(before, after string) ChangeKind {
	if version.IsValid(before) && version.IsValid(after) {
		switch version.Compare(before, after) {
		case -1:
			return Upgraded
		case 1:
			return Downgraded
		}
	}
	return Changed
}

// moduleChange compares two modules; a path is "" where the module is
// absent. It returns nil when they are the same.
func moduleChange(pathA string, a *Module, pathB string, b *Module) *ModuleChange {
	switch {
	case pathA == "" && pathB == "":
		return nil
	case pathA == "":
		return &ModuleChange{Path: pathB, Kind: Added, After: b.Version, AfterReplace: replacement(b)}
	case pathB == "":
		return &ModuleChange{Path: pathA, Kind: Removed, Before: a.Version, BeforeReplace: replacement(a)}
	case pathA != pathB:
		// The main module moved: nothing to order.
		return &ModuleChange{Path: pathB, Kind: Changed, Before: a.Version, After: b.Version,
			BeforeReplace: replacement(a), AfterReplace: replacement(b)}
	}
	ra, rb := replacement(a), replacement(b)
	if a.Version == b.Version && a.Sum == b.Sum && sameReplace(a.Replace, b.Replace) {
		return nil
	}
	ch := &ModuleChange{Path: pathA, Kind: Changed, Before: a.Version, After: b.Version, BeforeReplace: ra, AfterReplace: rb}
	if a.Version != b.Version && semver.IsValid(a.Version) && semver.IsValid(b.Version) {
		switch semver.Compare(a.Version, b.Version) {
		case -1:
			ch.Kind = Upgraded
		case 1:
			ch.Kind = Downgraded
		}
	}
	return ch
}

func sameReplace(a, b *Module) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Path == b.Path && a.Version == b.Version && a.Sum == b.Sum
}

// replacement renders m's replacement as go.mod spells it: a directory
// (whose version the build info gives as "(devel)") or "path version".
func replacement(m *Module) string {
	if m.Replace == nil {
		return ""
	}
	if m.Replace.Version == "" || m.Replace.Version == "(devel)" {
		return m.Replace.Path
	}
	return m.Replace.Path + " " + m.Replace.Version
}

func diffModules(a, b []Module) []ModuleChange {
	index := func(ms []Module) map[string]*Module {
		m := make(map[string]*Module, len(ms))
		for i := range ms {
			m[ms[i].Path] = &ms[i]
		}
		return m
	}
	ia, ib := index(a), index(b)
	paths := make([]string, 0, len(ia)+len(ib))
	for p := range ia {
		paths = append(paths, p)
	}
	for p := range ib {
		if ia[p] == nil {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []ModuleChange
	for _, p := range paths {
		ma, mb := ia[p], ib[p]
		pa, pb := p, p
		if ma == nil {
			pa, ma = "", &Module{}
		}
		if mb == nil {
			pb, mb = "", &Module{}
		}
		if ch := moduleChange(pa, ma, pb, mb); ch != nil {
			out = append(out, *ch)
		}
	}
	return out
}

func diffSettings(a, b []Setting) []SettingChange {
	// A key the build info repeats keeps its last value, as go version
	// -m shows it.
	index := func(ss []Setting) map[string]string {
		m := make(map[string]string, len(ss))
		for _, s := range ss {
			m[s.Key] = s.Value
		}
		return m
	}
	ia, ib := index(a), index(b)
	var out []SettingChange
	for k, va := range ia {
		if vb, ok := ib[k]; !ok || va != vb {
			out = append(out, SettingChange{Key: k, Before: va, After: vb})
		}
	}
	for k, vb := range ib {
		if _, ok := ia[k]; !ok {
			out = append(out, SettingChange{Key: k, After: vb})
		}
	}
	slices.SortFunc(out, func(x, y SettingChange) int { return cmp.Compare(x.Key, y.Key) })
	return out
}
