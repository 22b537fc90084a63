package imagediff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/tagpin/tagpin/internal/imagediff/gobin"
	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
	"github.com/tagpin/tagpin/internal/imagediff/pkgdb"
)

// BaseReader is a LayerReader that may need files of the shared bottom
// layers: a package database that only one image's layers changed is
// compared with the other image's copy, which sits in the shared layers.
// After the layers above the common prefix, Diff asks BasePaths, and
// while paths remain, hands the shared layers to ApplyBase from the top
// down.
type BaseReader interface {
	LayerReader
	// BasePaths lists the paths still wanted from the shared layers.
	BasePaths() []string
	// ApplyBase reads one shared layer (r is the blob as stored).
	ApplyBase(ctx context.Context, layer Descriptor, r io.Reader) error
}

// maxDatabaseBytes bounds a package database read into memory or onto
// disk; larger ones are reported as not read.
const maxDatabaseBytes = 512 << 20

// ContentOptions tunes NewContentReader.
type ContentOptions struct {
	// TempDir holds the layers that must be read twice (a layer both
	// images have above their common prefix) and rpm databases while
	// they are read; default os.TempDir().
	TempDir string
	// Limits bounds each layer (the zero value: layerfs's defaults).
	Limits layerfs.Limits
}

// NewContentReader returns the LayerReader that compares file trees,
// OS package databases and Go binaries of the layers above two images'
// common prefix.
func NewContentReader(opts ContentOptions) BaseReader {
	c := &contentReader{opts: opts, base: map[string]*baseFile{}}
	for i := range c.sides {
		c.sides[i] = &sideTree{tree: layerfs.NewOverlay(), next: -1, pending: map[int]*spool{}}
	}
	return c
}

type contentReader struct {
	opts  ContentOptions
	sides [2]*sideTree // A, B
	// base holds the package databases wanted from the shared layers,
	// by path, once BasePaths has been asked.
	base      map[string]*baseFile
	baseAsked bool
	skipped   int
	notes     []string
}

// sideTree is one image's overlay and the layers waiting for their turn.
type sideTree struct {
	tree    *layerfs.Tree
	next    int // index of the next layer to apply; -1 before the first
	pending map[int]*spool
}

// spool is a layer kept on disk until its turn comes.
type spool struct {
	file  string
	desc  Descriptor
	users int
}

// baseFile is a package database looked for in the shared layers.
type baseFile struct {
	found bool
	entry *layerfs.Entry // nil when absent
	info  any
}

func sideIndex(s Side) int {
	if s == SideB {
		return 1
	}
	return 0
}

// ApplyLayer applies a layer to the overlay of each side it belongs to,
// keeping it on disk for a side whose lower layers have not come yet.
func (c *contentReader) ApplyLayer(ctx context.Context, layer Descriptor, at []Placement, r io.Reader) error {
	if len(at) == 0 {
		return nil
	}
	low := at[0].Index
	for _, p := range at {
		low = min(low, p.Index)
	}
	for _, s := range c.sides {
		if s.next < 0 {
			// Both sides start at the common prefix, the lowest index
			// the first layer names. Without one, each side gets all
			// its layers: its tree is the whole file system, not a
			// change to an unknown base.
			s.next = low
			if low == 0 {
				s.tree = layerfs.NewTree()
			}
		}
	}
	ready := 0
	for _, p := range at {
		if c.sides[sideIndex(p.Side)].next == p.Index {
			ready++
		}
	}
	if len(at) == 1 && ready == 1 {
		return c.apply(ctx, c.sides[sideIndex(at[0].Side)], layer, r)
	}
	// Read twice or later: keep it on disk.
	sp, err := c.spool(layer, r)
	if err != nil {
		return err
	}
	for _, p := range at {
		s := c.sides[sideIndex(p.Side)]
		if _, dup := s.pending[p.Index]; !dup && p.Index >= s.next {
			s.pending[p.Index] = sp
			sp.users++
		}
	}
	if sp.users == 0 {
		_ = os.Remove(sp.file)
	}
	for _, s := range c.sides {
		if err := c.drain(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (c *contentReader) spool(layer Descriptor, r io.Reader) (*spool, error) {
	f, err := os.CreateTemp(c.opts.TempDir, "tagpin-layer-*")
	if err != nil {
		return nil, fmt.Errorf("keeping layer %s on disk: %w", layer.Digest, err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("keeping layer %s on disk: %w", layer.Digest, err)
	}
	return &spool{file: f.Name(), desc: layer}, nil
}

// drain applies the spooled layers of s whose turn has come.
func (c *contentReader) drain(ctx context.Context, s *sideTree) error {
	for {
		sp, ok := s.pending[s.next]
		if !ok {
			return nil
		}
		delete(s.pending, s.next)
		f, err := os.Open(sp.file)
		if err != nil {
			return fmt.Errorf("reading layer %s from disk: %w", sp.desc.Digest, err)
		}
		err = c.apply(ctx, s, sp.desc, f)
		f.Close()
		if sp.users--; sp.users == 0 {
			_ = os.Remove(sp.file)
		}
		if err != nil {
			return err
		}
	}
}

// apply applies one layer blob to s and moves s to the next index.
func (c *contentReader) apply(ctx context.Context, s *sideTree, layer Descriptor, r io.Reader) error {
	tr, err := layerfs.Decompress(layer.MediaType, r)
	if err != nil {
		return err
	}
	defer tr.Close()
	stats, err := s.tree.Apply(ctx, tr, c.applyOptions(layer, nil))
	if err != nil {
		return entryError(err)
	}
	c.skipped += stats.SkippedTotal
	s.next++
	return c.drain(ctx, s)
}

// entryError drops the position layerfs gives a layer in its tree (the
// caller names the layer by digest) and keeps the entry's path.
func entryError(err error) error {
	var le *layerfs.LayerError
	if !errors.As(err, &le) {
		return err
	}
	if le.Path != "" {
		return fmt.Errorf("at %q: %w", le.Path, le.Err)
	}
	return le.Err
}

func (c *contentReader) applyOptions(layer Descriptor, want func(string) bool) layerfs.ApplyOptions {
	_, estargz := layer.Annotations["containerd.io/snapshot/stargz/toc.digest"]
	return layerfs.ApplyOptions{
		Want: func(e *layerfs.Entry) bool {
			if want != nil {
				return want(e.Path)
			}
			_, db := pkgdb.Detect(e.Path)
			return db || (e.Mode&0o111 != 0 && e.Size > 0)
		},
		Inspect: c.inspect,
		Limits:  c.opts.Limits,
		EStargz: estargz,
	}
}

// dbInfo is what Inspect keeps of a package database.
type dbInfo struct {
	kind     pkgdb.Kind
	packages []pkgdb.Package
	err      error
}

// goInfo is what Inspect keeps of a Go executable.
type goInfo struct {
	info *gobin.Info
	err  error
}

// inspect reads package databases and Go build info as the layer goes
// by. Errors stay with the file (the report says the database could not
// be read); only the tar stream's own errors stop Apply.
func (c *contentReader) inspect(e *layerfs.Entry, content io.Reader) (any, error) {
	if kind, ok := pkgdb.Detect(e.Path); ok {
		return c.readDatabase(kind, e, content), nil
	}
	info, err := gobin.Read(content)
	switch {
	case err == nil && info == nil:
		return nil, nil
	case err != nil && !errors.Is(err, gobin.ErrOldFormat):
		var fe *gobin.FormatError
		if !errors.As(err, &fe) {
			return nil, err // the tar stream's own error
		}
	}
	return &goInfo{info: info, err: err}, nil
}

func (c *contentReader) readDatabase(kind pkgdb.Kind, e *layerfs.Entry, content io.Reader) *dbInfo {
	db := &dbInfo{kind: kind}
	if e.Size > maxDatabaseBytes {
		db.err = fmt.Errorf("larger than %d MiB", maxDatabaseBytes>>20)
		return db
	}
	if !kind.NeedsRandomAccess() {
		switch kind.Ecosystem() {
		case pkgdb.Apk:
			db.packages, db.err = pkgdb.ParseApk(content)
		default:
			db.packages, db.err = pkgdb.ParseDpkg(content)
		}
		return db
	}
	f, err := os.CreateTemp(c.opts.TempDir, "tagpin-rpmdb-*")
	if err != nil {
		db.err = err
		return db
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(content, maxDatabaseBytes))
	if err != nil {
		db.err = err
		return db
	}
	db.packages, db.err = pkgdb.ParseRPM(kind, f, n)
	return db
}

// decided reports whether path's state in t is decided by t itself (an
// entry, a whiteout, or an opaque or non-directory parent; any path of
// a whole tree) and the entry there, if any.
func decided(t *layerfs.Tree, p string) (*layerfs.Entry, bool) {
	if !t.Overlay() {
		e, _ := t.Get(p)
		return e, true
	}
	if e, ok := t.Get(p); ok {
		if e.Type == layerfs.Whiteout {
			return nil, true
		}
		return e, true
	}
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if e, ok := t.Get(dir); ok && (e.Opaque || e.Type != layerfs.Dir) {
			return nil, true
		}
	}
	return nil, false
}

// databases lists the package database paths either overlay holds.
func (c *contentReader) databases() []string {
	seen := map[string]bool{}
	for _, s := range c.sides {
		_ = s.tree.Walk(func(e *layerfs.Entry) error {
			if _, ok := e.Info.(*dbInfo); ok {
				seen[e.Path] = true
			} else if _, ok := pkgdb.Detect(e.Path); ok && e.Type == layerfs.Whiteout {
				seen[e.Path] = true
			}
			return nil
		})
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// BasePaths lists the package databases one side's layers decide and
// the other's leave to the shared layers. That includes status.d files:
// one file per package, so a file one side rewrites may be an upgrade
// and one it whites out a removal.
func (c *contentReader) BasePaths() []string {
	if !c.baseAsked {
		c.baseAsked = true
		for _, p := range c.databases() {
			_, da := decided(c.sides[0].tree, p)
			_, db := decided(c.sides[1].tree, p)
			if da != db {
				c.base[p] = &baseFile{}
			}
		}
	}
	var out []string
	for p, b := range c.base {
		if !b.found {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// ApplyBase reads a shared layer, top down, for the databases still
// wanted.
func (c *contentReader) ApplyBase(ctx context.Context, layer Descriptor, r io.Reader) error {
	want := map[string]bool{}
	for _, p := range c.BasePaths() {
		want[p] = true
	}
	tr, err := layerfs.Decompress(layer.MediaType, r)
	if err != nil {
		return err
	}
	defer tr.Close()
	t := layerfs.NewOverlay()
	if _, err := t.Apply(ctx, tr, c.applyOptions(layer, func(p string) bool { return want[p] })); err != nil {
		return entryError(err)
	}
	for p := range want {
		if e, ok := decided(t, p); ok {
			b := c.base[p]
			b.found = true
			if e != nil {
				b.entry, b.info = e, e.Info
			}
		}
	}
	return nil
}

// Result compares the two overlays.
func (c *contentReader) Result(_ context.Context, level Level) (*Contents, error) {
	for i, s := range c.sides {
		if len(s.pending) > 0 {
			return nil, fmt.Errorf("layers of image %c missing below index %d", 'a'+i, s.next)
		}
	}
	out := &Contents{Files: c.files()}
	if c.skipped > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d layer entries skipped (unsafe or unsupported names, links or types)", c.skipped))
	}
	if level >= LevelPackages {
		out.Packages = c.packages()
		out.GoBinaries = c.goBinaries()
	}
	out.Notes = append(out.Notes, c.notes...)
	return out, nil
}

// fieldNames maps layerfs's attribute names to the report's.
var fieldNames = map[string]string{
	layerfs.FieldType: "type", layerfs.FieldMode: "mode", layerfs.FieldUID: "owner", layerfs.FieldGID: "owner",
	layerfs.FieldSize: "size", layerfs.FieldLink: "target", layerfs.FieldContent: "content", layerfs.FieldOpaque: "opaque",
}

func (c *contentReader) files() *FilesDiff {
	changes := c.resolveBase(layerfs.Diff(c.sides[0].tree, c.sides[1].tree, layerfs.DiffOptions{}))
	sum := layerfs.Summarize(changes)
	fd := &FilesDiff{
		Summary: FilesSummary{Added: sum.Added, Removed: sum.Removed, Changed: sum.Changed, SizeDelta: sum.SizeDelta},
		Groups:  []FileGroup{},
	}
	for _, ch := range changes {
		fc := FileChange{Path: ch.Path, Change: ch.Kind.String(), BaseUnknown: ch.BaseUnknown}
		// The type of what is there: B's entry, A's for a removal.
		typ := ch.After
		if ch.Kind == layerfs.Removed || typ == nil || typ.Type == layerfs.Whiteout {
			typ = ch.Before
		}
		if typ != nil && typ.Type != layerfs.Whiteout {
			fc.Type = typ.Type.String()
		}
		if ch.Before != nil && ch.Before.Type == layerfs.Regular {
			fc.SizeFrom = ch.Before.Size
		}
		if ch.After != nil && ch.After.Type == layerfs.Regular {
			fc.SizeTo = ch.After.Size
		}
		for _, f := range ch.Fields {
			if n := fieldNames[f]; !slices.Contains(fc.What, n) {
				fc.What = append(fc.What, n)
			}
		}
		dir, _, _ := strings.Cut(ch.Path, "/")
		if !strings.Contains(ch.Path, "/") {
			dir = ""
		}
		if n := len(fd.Groups); n == 0 || fd.Groups[n-1].Dir != dir {
			fd.Groups = append(fd.Groups, FileGroup{Dir: dir})
		}
		g := &fd.Groups[len(fd.Groups)-1]
		g.Changes = append(g.Changes, fc)
	}
	return fd
}

// resolveBase replaces, in changes, the base-unknown side of the paths
// looked for in the shared layers (package databases) with what they
// hold there (nothing, when none has the path): a database one image's
// layers rewrote is changed, not added.
func (c *contentReader) resolveBase(changes []layerfs.Change) []layerfs.Change {
	out := changes[:0]
	for _, ch := range changes {
		b, ok := c.base[ch.Path]
		if !ch.BaseUnknown || !ok {
			out = append(out, ch)
			continue
		}
		var side [2]*layerfs.Entry
		for i, s := range c.sides {
			if e, ok := decided(s.tree, ch.Path); ok {
				side[i] = e
			} else {
				side[i] = b.entry
			}
		}
		ch.Before, ch.After, ch.BaseUnknown, ch.Fields = side[0], side[1], false, nil
		switch {
		case side[0] == nil && side[1] == nil:
			continue
		case side[0] == nil:
			ch.Kind = layerfs.Added
		case side[1] == nil:
			ch.Kind = layerfs.Removed
		default:
			ch.Kind, ch.Fields = layerfs.Changed, entryFields(side[0], side[1])
			if len(ch.Fields) == 0 {
				continue
			}
		}
		out = append(out, ch)
	}
	return out
}

// entryFields lists the attributes that differ between two entries, as
// layerfs.Diff names them.
func entryFields(a, b *layerfs.Entry) []string {
	var f []string
	add := func(differ bool, name string) {
		if differ {
			f = append(f, name)
		}
	}
	add(a.Type != b.Type, layerfs.FieldType)
	add(a.Mode != b.Mode, layerfs.FieldMode)
	add(a.UID != b.UID, layerfs.FieldUID)
	add(a.GID != b.GID, layerfs.FieldGID)
	add(a.Size != b.Size, layerfs.FieldSize)
	add(a.Link != b.Link, layerfs.FieldLink)
	add(a.Digest != b.Digest, layerfs.FieldContent)
	return f
}

// ecosystemNames are the report's names of the package ecosystems.
var ecosystemNames = map[pkgdb.Ecosystem]string{pkgdb.Deb: "dpkg", pkgdb.Apk: "apk", pkgdb.RPM: "rpm"}

// database returns the database at p on side i: from the overlay, else
// from the shared layers when they were read (a path BasePaths still
// lists once they all were is in none of them); known is false when the
// database is only in the shared layers and was not looked for (the
// same on both sides then).
func (c *contentReader) database(i int, p string) (db *dbInfo, present, known bool) {
	if e, ok := decided(c.sides[i].tree, p); ok {
		if e == nil {
			return nil, false, true
		}
		db, _ := e.Info.(*dbInfo)
		return db, db != nil, true
	}
	if b, ok := c.base[p]; ok {
		db, _ := b.info.(*dbInfo)
		return db, db != nil, true
	}
	return nil, false, false
}

func (c *contentReader) packages() *PackagesDiff {
	pd := &PackagesDiff{Databases: []PackageDatabaseDiff{}}
	for _, p := range c.databases() {
		kind, _ := pkgdb.Detect(p)
		dbDiff := PackageDatabaseDiff{Ecosystem: ecosystemNames[kind.Ecosystem()], Path: p}
		a, presentA, knownA := c.database(0, p)
		b, presentB, knownB := c.database(1, p)
		if !knownA || !knownB {
			// The shared layers were not handed to ApplyBase.
			dbDiff.Unsupported = "the other image's copy is in the shared layers, which were not read"
			pd.Databases = append(pd.Databases, dbDiff)
			continue
		}
		for _, db := range []*dbInfo{a, b} {
			if db != nil && db.err != nil {
				dbDiff.Unsupported = db.err.Error()
			}
		}
		if dbDiff.Unsupported != "" {
			pd.Databases = append(pd.Databases, dbDiff)
			continue
		}
		var pa, pb []pkgdb.Package
		if presentA {
			pa = a.packages
		}
		if presentB {
			pb = b.packages
		}
		for _, ch := range pkgdb.Diff(pa, pb) {
			switch ch.Kind {
			case pkgdb.Added:
				dbDiff.Added = append(dbDiff.Added, Package{Name: ch.Name, Version: ch.After, Arch: ch.Arch})
			case pkgdb.Removed:
				dbDiff.Removed = append(dbDiff.Removed, Package{Name: ch.Name, Version: ch.Before, Arch: ch.Arch})
			case pkgdb.Upgraded:
				dbDiff.Upgraded = append(dbDiff.Upgraded, PackageChange{Name: ch.Name, From: ch.Before, To: ch.After, Arch: ch.Arch})
			case pkgdb.Downgraded:
				dbDiff.Downgraded = append(dbDiff.Downgraded, PackageChange{Name: ch.Name, From: ch.Before, To: ch.After, Arch: ch.Arch})
			default:
				dbDiff.Changed = append(dbDiff.Changed, PackageChange{Name: ch.Name, From: ch.Before, To: ch.After, Arch: ch.Arch})
			}
		}
		if len(dbDiff.Added)+len(dbDiff.Removed)+len(dbDiff.Upgraded)+len(dbDiff.Downgraded)+len(dbDiff.Changed) > 0 {
			pd.Databases = append(pd.Databases, dbDiff)
		}
	}
	return mergeStatusD(pd)
}

// mergeStatusD folds the per-package files of distroless status.d
// directories into one database entry per directory.
func mergeStatusD(pd *PackagesDiff) *PackagesDiff {
	out := &PackagesDiff{Databases: []PackageDatabaseDiff{}}
	byDir := map[string]int{}
	for _, db := range pd.Databases {
		kind, _ := pkgdb.Detect(db.Path)
		if kind != pkgdb.DpkgStatusD {
			out.Databases = append(out.Databases, db)
			continue
		}
		dir := path.Dir(db.Path)
		i, ok := byDir[dir]
		if !ok {
			i = len(out.Databases)
			byDir[dir] = i
			out.Databases = append(out.Databases, PackageDatabaseDiff{Ecosystem: db.Ecosystem, Path: dir})
		}
		m := &out.Databases[i]
		m.Added = append(m.Added, db.Added...)
		m.Removed = append(m.Removed, db.Removed...)
		m.Upgraded = append(m.Upgraded, db.Upgraded...)
		m.Downgraded = append(m.Downgraded, db.Downgraded...)
		m.Changed = append(m.Changed, db.Changed...)
		if db.Unsupported != "" && m.Unsupported == "" {
			m.Unsupported = db.Path + ": " + db.Unsupported
		}
	}
	return out
}

func (c *contentReader) goBinaries() *GoBinariesDiff {
	gd := &GoBinariesDiff{Binaries: []GoBinaryChange{}}
	paths := map[string]bool{}
	for _, s := range c.sides {
		_ = s.tree.Walk(func(e *layerfs.Entry) error {
			if _, ok := e.Info.(*goInfo); ok {
				paths[e.Path] = true
			}
			return nil
		})
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		a, knownA := goAt(c.sides[0].tree, p)
		b, knownB := goAt(c.sides[1].tree, p)
		ch := GoBinaryChange{Path: p}
		switch {
		case a != nil && b != nil:
			if a.err != nil || b.err != nil {
				ch.Change = Changed
				ch.Note = "build info not read: " + errors.Join(a.err, b.err).Error()
				break
			}
			changes := gobin.Diff(a.info, b.info)
			if changes.Empty() {
				continue
			}
			ch.Change = Changed
			ch.Main = b.info.Path
			if changes.GoVersion != nil {
				ch.GoVersion = &Change{From: a.info.GoVersion, To: b.info.GoVersion}
			}
			if changes.Main != nil {
				ch.Modules = append(ch.Modules, moduleChange(*changes.Main))
			}
			for _, m := range changes.Modules {
				ch.Modules = append(ch.Modules, moduleChange(m))
			}
		case b != nil:
			ch.Change, ch.Main, ch.BaseUnknown, ch.Note = Added, mainOf(b), !knownA, notRead(b)
		case a != nil:
			ch.Change, ch.Main, ch.BaseUnknown, ch.Note = Removed, mainOf(a), !knownB, notRead(a)
		default:
			continue
		}
		gd.Binaries = append(gd.Binaries, ch)
	}
	return gd
}

// goAt is the Go binary at p in t, and whether t decides p.
func goAt(t *layerfs.Tree, p string) (*goInfo, bool) {
	e, ok := decided(t, p)
	if !ok || e == nil {
		return nil, ok
	}
	g, _ := e.Info.(*goInfo)
	return g, true
}

// notRead is the note of a binary whose build info could not be read.
func notRead(g *goInfo) string {
	if g.err == nil {
		return ""
	}
	return "build info not read: " + g.err.Error()
}

func mainOf(g *goInfo) string {
	if g.info == nil {
		return ""
	}
	return g.info.Path
}

func moduleChange(m gobin.ModuleChange) ModuleChange {
	mc := ModuleChange{Path: m.Path, Change: string(m.Kind), From: m.Before, To: m.After}
	if m.BeforeReplace != "" {
		mc.From += " => " + m.BeforeReplace
	}
	if m.AfterReplace != "" {
		mc.To += " => " + m.AfterReplace
	}
	return mc
}
