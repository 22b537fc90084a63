package layerfs

import (
	"slices"
	"strings"
)

// ChangeKind says what happened to a path.
type ChangeKind uint8

// Change kinds.
const (
	Added ChangeKind = iota + 1
	Removed
	Changed
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Changed:
		return "changed"
	}
	return "unknown"
}

// MarshalText writes the kind's name.
func (k ChangeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Attributes a Change lists in Fields.
const (
	FieldType    = "type"
	FieldMode    = "mode"
	FieldUID     = "uid"
	FieldGID     = "gid"
	FieldSize    = "size"
	FieldLink    = "link"
	FieldContent = "content"
	// FieldOpaque: overlay trees only, a directory hides the base's
	// entries below it on one side and not on the other.
	FieldOpaque = "opaque"
)

// Change is one path that differs between two trees.
type Change struct {
	Path string
	Kind ChangeKind
	// Before is the entry in the first tree, After in the second; nil
	// when the path is absent there or, with BaseUnknown, only the
	// unknown base of an overlay tree.
	Before, After *Entry
	// Fields lists the attributes that differ, for Changed entries held
	// by both trees, in the order of the Field constants.
	Fields []string
	// BaseUnknown is true when one side is what the unknown base of an
	// overlay tree holds (see the package documentation).
	BaseUnknown bool
}

// DiffOptions tunes Diff.
type DiffOptions struct {
	// Scope, when non-nil, limits the diff to the paths it accepts.
	Scope func(path string) bool
}

// pathState is what a tree says about a path.
type pathState uint8

const (
	// stateBase: an overlay tree leaves the path to its unknown base.
	stateBase pathState = iota
	statePresent
	stateAbsent
)

// state says whether path is in the tree, absent from it, or (overlay
// trees) left to the base.
func (t *Tree) state(p string) pathState {
	if i, ok := t.find(p); ok {
		if t.nodes[i].typ == Whiteout {
			return stateAbsent
		}
		return statePresent
	}
	if !t.overlay {
		return stateAbsent
	}
	for d := parentPath(p); ; d = parentPath(d) {
		i, ok := t.lookup(d)
		if ok {
			n := &t.nodes[i]
			if n.typ != Dir || n.flags&flagOpaque != 0 {
				return stateAbsent
			}
		}
		if d == "" {
			return stateBase
		}
	}
}

// Diff compares tree a (before) with tree b (after), path by path, in
// path order.
func Diff(a, b *Tree, opts DiffOptions) []Change {
	la, lb := a.order(), b.order()
	var out []Change
	for i, j := 0, 0; i < len(la) || j < len(lb); {
		var p string
		switch {
		case j == len(lb):
			p = a.nodes[la[i]].path
			i++
		case i == len(la):
			p = b.nodes[lb[j]].path
			j++
		default:
			pa, pb := a.nodes[la[i]].path, b.nodes[lb[j]].path
			switch c := ComparePaths(pa, pb); {
			case c < 0:
				p = pa
				i++
			case c > 0:
				p = pb
				j++
			default:
				p = pa
				i++
				j++
			}
		}
		if opts.Scope != nil && !opts.Scope(p) {
			continue
		}
		if c, ok := diffPath(a, b, p); ok {
			out = append(out, c)
		}
	}
	return out
}

func diffPath(a, b *Tree, p string) (Change, bool) {
	sa, sb := a.state(p), b.state(p)
	c := Change{Path: p}
	switch {
	case sa == statePresent && sb == statePresent:
		ia, ib := a.at(p), b.at(p)
		c.Fields = compareNodes(a, ia, b, ib)
		if len(c.Fields) == 0 {
			return c, false
		}
		c.Kind, c.Before, c.After = Changed, a.entry(ia), b.entry(ib)
		c.BaseUnknown = slices.Contains(c.Fields, FieldOpaque) ||
			(a.nodes[ia].flags|b.nodes[ib].flags)&flagBaseTarget != 0
	case sa == statePresent && sb == stateAbsent:
		c.Kind, c.Before = Removed, a.entry(a.at(p))
		// A hard link to the base may stand for nothing (a directory).
		c.BaseUnknown = a.nodes[a.at(p)].flags&flagBaseTarget != 0
	case sa == stateAbsent && sb == statePresent:
		c.Kind, c.After = Added, b.entry(b.at(p))
		c.BaseUnknown = b.nodes[b.at(p)].flags&flagBaseTarget != 0
	case sa == statePresent && sb == stateBase:
		e := a.entry(a.at(p))
		if e.Type == Dir && !e.Opaque {
			return c, false
		}
		c.Kind, c.Before, c.BaseUnknown = Removed, e, true
		if e.Type == Dir {
			c.Kind = Changed
		}
	case sa == stateBase && sb == statePresent:
		e := b.entry(b.at(p))
		if e.Type == Dir && !e.Opaque {
			return c, false
		}
		c.Kind, c.After, c.BaseUnknown = Added, e, true
		if e.Type == Dir {
			c.Kind = Changed
		}
	case sa == stateAbsent && sb == stateBase:
		c.Kind, c.BaseUnknown = Added, true
	case sa == stateBase && sb == stateAbsent:
		c.Kind, c.BaseUnknown = Removed, true
	default:
		return c, false
	}
	return c, true
}

// compareNodes lists the attributes that differ between two present
// entries.
func compareNodes(a *Tree, ia int32, b *Tree, ib int32) []string {
	na, nb := &a.nodes[ia], &b.nodes[ib]
	var f []string
	if na.typ != nb.typ {
		f = append(f, FieldType)
	}
	// An implicit directory of an overlay tree has the base's attributes,
	// unknown here.
	unknownAttrs := na.typ == Dir && nb.typ == Dir &&
		(a.overlay && na.flags&flagImplicit != 0 || b.overlay && nb.flags&flagImplicit != 0)
	if !unknownAttrs {
		if na.mode != nb.mode {
			f = append(f, FieldMode)
		}
		if na.uid != nb.uid {
			f = append(f, FieldUID)
		}
		if na.gid != nb.gid {
			f = append(f, FieldGID)
		}
	}
	if na.size != nb.size {
		f = append(f, FieldSize)
	}
	if a.links[ia] != b.links[ib] {
		f = append(f, FieldLink)
	}
	if na.flags&flagDigest != nb.flags&flagDigest || na.digest != nb.digest {
		f = append(f, FieldContent)
	}
	if na.typ == Dir && nb.typ == Dir && na.flags&flagOpaque != nb.flags&flagOpaque {
		f = append(f, FieldOpaque)
	}
	return f
}

// Summary counts changes, in all and by top directory.
type Summary struct {
	Counts
	// Dirs groups the changes by the first component of their path
	// ("usr", "etc"; a file at the root is its own group), sorted.
	Dirs []DirSummary
}

// DirSummary counts the changes below one top directory.
type DirSummary struct {
	Dir string
	Counts
}

// Counts counts changes and the bytes of the regular files they hold
// (hard links are not counted twice).
type Counts struct {
	Added, Removed, Changed int
	// AddedBytes sums the regular files added, RemovedBytes those
	// removed; SizeDelta is the size after minus the size before over
	// every change.
	AddedBytes, RemovedBytes, SizeDelta int64
}

func (c *Counts) add(ch *Change) {
	switch ch.Kind {
	case Added:
		c.Added++
		c.AddedBytes += regularSize(ch.After)
	case Removed:
		c.Removed++
		c.RemovedBytes += regularSize(ch.Before)
	case Changed:
		c.Changed++
	}
	c.SizeDelta += regularSize(ch.After) - regularSize(ch.Before)
}

func regularSize(e *Entry) int64 {
	if e == nil || e.Type != Regular {
		return 0
	}
	return e.Size
}

// Summarize counts changes by top directory.
func Summarize(changes []Change) Summary {
	var s Summary
	dirs := map[string]*DirSummary{}
	for i := range changes {
		ch := &changes[i]
		s.add(ch)
		top, _, _ := strings.Cut(ch.Path, "/")
		d, ok := dirs[top]
		if !ok {
			d = &DirSummary{Dir: top}
			dirs[top] = d
		}
		d.add(ch)
	}
	for _, d := range dirs {
		s.Dirs = append(s.Dirs, *d)
	}
	slices.SortFunc(s.Dirs, func(x, y DirSummary) int { return ComparePaths(x.Dir, y.Dir) })
	return s
}
