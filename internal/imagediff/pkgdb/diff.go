package pkgdb

import (
	"cmp"
	"fmt"
	"slices"
)

// ChangeKind says how a package changed between two lists.
type ChangeKind int

// The kinds of change Diff reports.
const (
	Added ChangeKind = iota + 1
	Removed
	Upgraded
	Downgraded
	// Changed: same version, but another source package or architecture.
	Changed
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Upgraded:
		return "upgraded"
	case Downgraded:
		return "downgraded"
	case Changed:
		return "changed"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// MarshalText renders the kind as its lower-case name.
func (k ChangeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Change is one difference between two package lists.
type Change struct {
	Ecosystem Ecosystem  `json:"ecosystem"`
	Name      string     `json:"name"`
	Arch      string     `json:"arch,omitempty"` // the architecture after the change (before, for Removed)
	Kind      ChangeKind `json:"kind"`
	Before    string     `json:"before,omitempty"` // version; empty for Added
	After     string     `json:"after,omitempty"`  // version; empty for Removed
	// BeforeArch is the architecture before the change when it differs
	// from Arch (e.g. "all" became "amd64").
	BeforeArch string `json:"beforeArch,omitempty"`
	// BeforeSource and AfterSource are the source packages when they differ.
	BeforeSource string `json:"beforeSource,omitempty"`
	AfterSource  string `json:"afterSource,omitempty"`
}

type diffKey struct {
	eco        Ecosystem
	name, arch string
}

func keyOf(p Package) diffKey { return diffKey{p.Ecosystem, p.Name, p.Arch} }

// Diff lists the differences from package list a to package list b, keyed
// by (ecosystem, name, architecture) and sorted by those. Several versions
// of one key (as rpm allows for kernels) are matched version by version;
// what is left pairs up as an upgrade or downgrade when exactly one version
// remains on each side. A package whose architecture changed (and nothing
// else of that name did) is one change, not a removal and an addition.
func Diff(a, b []Package) []Change {
	before := group(a)
	after := group(b)
	var changes []Change
	var gone, came []Package // unmatched, to pair by name across architectures
	for k, olds := range before {
		news := after[k]
		olds, news = dropCommon(olds, news)
		switch {
		case len(olds) == 1 && len(news) == 1:
			if c, ok := change(olds[0], news[0]); ok {
				changes = append(changes, c)
			}
		default:
			gone = append(gone, olds...)
			came = append(came, news...)
		}
	}
	for k, news := range after {
		if _, ok := before[k]; !ok {
			came = append(came, news...)
		}
	}
	// Pair an architecture change: exactly one unmatched package of that
	// name on each side.
	type nameKey struct {
		eco  Ecosystem
		name string
	}
	count := func(ps []Package) map[nameKey]int {
		m := make(map[nameKey]int)
		for _, p := range ps {
			m[nameKey{p.Ecosystem, p.Name}]++
		}
		return m
	}
	goneN, cameN := count(gone), count(came)
	paired := make(map[nameKey]Package)
	for _, p := range gone {
		k := nameKey{p.Ecosystem, p.Name}
		if goneN[k] == 1 && cameN[k] == 1 {
			paired[k] = p
			continue
		}
		changes = append(changes, Change{Ecosystem: p.Ecosystem, Name: p.Name, Arch: p.Arch, Kind: Removed, Before: p.Version})
	}
	for _, p := range came {
		k := nameKey{p.Ecosystem, p.Name}
		if old, ok := paired[k]; ok {
			c, _ := change(old, p)
			changes = append(changes, c)
			continue
		}
		changes = append(changes, Change{Ecosystem: p.Ecosystem, Name: p.Name, Arch: p.Arch, Kind: Added, After: p.Version})
	}
	slices.SortFunc(changes, func(x, y Change) int {
		return cmp.Or(
			cmp.Compare(x.Ecosystem, y.Ecosystem),
			cmp.Compare(x.Name, y.Name),
			cmp.Compare(x.Arch, y.Arch),
			cmp.Compare(x.Kind, y.Kind),
			cmp.Compare(x.Before, y.Before),
			cmp.Compare(x.After, y.After),
		)
	})
	return changes
}

// group indexes packages by key; exact duplicates are kept once.
func group(ps []Package) map[diffKey][]Package { return GroupBy(ps, keyOf) }

// dropCommon removes the versions present on both sides.
func dropCommon(olds, news []Package) ([]Package, []Package) {
	return DropCommon(olds, news, func(p, q Package) bool { return q.Version == p.Version && q.Source == p.Source })
}

// GroupBy indexes items by key; exact duplicates are kept once. The
// package lists of SBOMs are compared with it too.
func GroupBy[K, P comparable](ps []P, key func(P) K) map[K][]P {
	m := make(map[K][]P)
	for _, p := range ps {
		k := key(p)
		if !slices.Contains(m[k], p) {
			m[k] = append(m[k], p)
		}
	}
	return m
}

// DropCommon removes from olds and news the items both have (same),
// each matched once.
func DropCommon[P any](olds, news []P, same func(p, q P) bool) ([]P, []P) {
	var o []P
	n := slices.Clone(news)
	for _, p := range olds {
		if i := slices.IndexFunc(n, func(q P) bool { return same(p, q) }); i >= 0 {
			n = slices.Delete(n, i, i+1)
			continue
		}
		o = append(o, p)
	}
	return o, n
}

// change describes old becoming new; ok is false when nothing differs.
func change(old, cur Package) (Change, bool) {
	c := Change{Ecosystem: cur.Ecosystem, Name: cur.Name, Arch: cur.Arch, Before: old.Version, After: cur.Version}
	if old.Arch != cur.Arch {
		c.BeforeArch = old.Arch
	}
	if old.Source != cur.Source {
		c.BeforeSource, c.AfterSource = old.Source, cur.Source
	}
	switch cmpv := CompareVersions(cur.Ecosystem, old.Version, cur.Version); {
	case cmpv < 0:
		c.Kind = Upgraded
	case cmpv > 0:
		c.Kind = Downgraded
	case old.Version != cur.Version || c.BeforeArch != "" || c.BeforeSource != "":
		c.Kind = Changed
	default:
		return Change{}, false
	}
	return c, true
}
