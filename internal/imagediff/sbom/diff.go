package sbom

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"github.com/tagpin/tagpin/internal/imagediff/pkgdb"
)

// ChangeKind says how a package changed; the values are pkgdb's.
type ChangeKind = pkgdb.ChangeKind

// Change is one difference between two SBOM package lists.
type Change struct {
	Name string     `json:"name"`
	PURL string     `json:"purl,omitempty"` // after the change (before, for Removed)
	Kind ChangeKind `json:"kind"`
	// Before and After are the versions; empty for Added and Removed.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Diff lists the package differences from a to b, sorted by name and
// package URL. Packages are matched by package URL without its version
// (type, namespace, name and arch qualifier), or by name when they have
// none. A version change is an upgrade or a downgrade when the package URL
// type is deb, apk or rpm (compared by that ecosystem's rules), and Changed
// otherwise. Either document may be nil.
func Diff(a, b *Document) []Change {
	before, after := index(a), index(b)
	var changes []Change
	for k, olds := range before {
		news := after[k]
		olds, news = dropCommon(olds, news)
		if len(olds) == 1 && len(news) == 1 {
			changes = append(changes, versionChange(k, olds[0], news[0]))
			continue
		}
		for _, p := range olds {
			changes = append(changes, Change{Name: p.Name, PURL: p.PURL, Kind: pkgdb.Removed, Before: p.Version})
		}
		for _, p := range news {
			changes = append(changes, Change{Name: p.Name, PURL: p.PURL, Kind: pkgdb.Added, After: p.Version})
		}
	}
	for k, news := range after {
		if _, ok := before[k]; ok {
			continue
		}
		for _, p := range news {
			changes = append(changes, Change{Name: p.Name, PURL: p.PURL, Kind: pkgdb.Added, After: p.Version})
		}
	}
	slices.SortFunc(changes, func(x, y Change) int {
		return cmp.Or(
			cmp.Compare(x.Name, y.Name),
			cmp.Compare(x.PURL, y.PURL),
			cmp.Compare(x.Kind, y.Kind),
			cmp.Compare(x.Before, y.Before),
			cmp.Compare(x.After, y.After),
		)
	})
	return changes
}

// key identifies a package across two documents.
type key struct {
	purlType string // "" without a package URL
	id       string
}

func keyOf(p Package) key {
	if t, id, ok := purlKey(p.PURL); ok {
		return key{t, id}
	}
	return key{"", p.Name}
}

// purlKey returns a package URL's type and its identity without version:
// "pkg:type/namespace/name" plus the arch qualifier when there is one.
func purlKey(purl string) (typ, id string, ok bool) {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return "", "", false
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	if i := strings.LastIndexByte(rest, '@'); i >= 0 && !strings.Contains(rest[i:], "/") {
		rest = rest[:i]
	}
	typ, path, ok := strings.Cut(strings.TrimLeft(rest, "/"), "/")
	if !ok || typ == "" || path == "" {
		return "", "", false
	}
	typ = strings.ToLower(typ)
	id = "pkg:" + typ + "/" + path
	if q, err := url.ParseQuery(query); err == nil && q.Get("arch") != "" {
		id += "?arch=" + q.Get("arch")
	}
	return typ, id, true
}

// index groups a document's packages by key; exact duplicates count once.
func index(d *Document) map[key][]Package {
	if d == nil {
		return map[key][]Package{}
	}
	return pkgdb.GroupBy(d.Packages, keyOf)
}

// dropCommon removes the versions present on both sides.
func dropCommon(olds, news []Package) ([]Package, []Package) {
	return pkgdb.DropCommon(olds, news, func(p, q Package) bool { return q.Version == p.Version })
}

func versionChange(k key, old, cur Package) Change {
	c := Change{Name: cur.Name, PURL: cur.PURL, Kind: pkgdb.Changed, Before: old.Version, After: cur.Version}
	var eco pkgdb.Ecosystem
	switch k.purlType {
	case "deb":
		eco = pkgdb.Deb
	case "apk", "alpine":
		eco = pkgdb.Apk
	case "rpm":
		eco = pkgdb.RPM
	default:
		return c
	}
	switch pkgdb.CompareVersions(eco, old.Version, cur.Version) {
	case -1:
		c.Kind = pkgdb.Upgraded
	case 1:
		c.Kind = pkgdb.Downgraded
	}
	return c
}
