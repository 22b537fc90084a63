package layerfs

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"path"
	"slices"
	"strings"
)

// ApplyOptions tunes Apply. The zero value hashes every regular file and
// inspects none.
type ApplyOptions struct {
	// Want says which regular files Inspect reads; nil means none.
	Want func(e *Entry) bool
	// Inspect, when non-nil, is called for the regular files Want accepts,
	// with their content. Apply hashes the bytes while Inspect reads them
	// and reads what it leaves unread; the result lands in Entry.Info. The
	// Entry has no Digest yet. content is valid only during the call. An
	// error stops Apply.
	Inspect func(e *Entry, content io.Reader) (any, error)
	// Limits bounds what one layer may hold; the zero value means the
	// defaults.
	Limits Limits
	// EStargz drops the metadata entries an eStargz layer holds at its
	// root (stargz.index.json and the prefetch landmarks), which are not
	// part of the image's file system. Set it for layers whose descriptor
	// carries the containerd.io/snapshot/stargz/toc.digest annotation.
	EStargz bool
}

// Limits bounds a layer. A zero field means its default.
type Limits struct {
	// MaxEntries bounds the tar entries of one layer and the entries of
	// the tree (default 5,000,000).
	MaxEntries int
	// MaxFileSize bounds the size of one file (default 64 GiB).
	MaxFileSize int64
	// MaxLayerBytes bounds the uncompressed bytes of one layer, tar
	// headers and padding included (default 64 GiB).
	MaxLayerBytes int64
	// MaxPathLen bounds the length of a path in bytes; longer entries are
	// skipped (default 4096).
	MaxPathLen int
}

// Default limits.
const (
	DefaultMaxEntries    = 5_000_000
	DefaultMaxFileSize   = 64 << 30
	DefaultMaxLayerBytes = 64 << 30
	DefaultMaxPathLen    = 4096
)

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxFileSize
	}
	if l.MaxLayerBytes <= 0 {
		l.MaxLayerBytes = DefaultMaxLayerBytes
	}
	if l.MaxPathLen <= 0 {
		l.MaxPathLen = DefaultMaxPathLen
	}
	return l
}

// LayerStats says what Apply read.
type LayerStats struct {
	// Entries counts the tar entries read, Bytes the uncompressed bytes.
	Entries int
	Bytes   int64
	// Skipped lists the first MaxSkippedListed entries that were not
	// applied; SkippedTotal counts them all.
	Skipped      []Skipped
	SkippedTotal int
}

// MaxSkippedListed bounds LayerStats.Skipped.
const MaxSkippedListed = 1000

// SkipReason says why an entry was not applied.
type SkipReason string

// Reasons to skip an entry.
const (
	SkipNUL          SkipReason = "name holds a NUL byte"
	SkipEscapes      SkipReason = "path escapes the root"
	SkipPathTooLong  SkipReason = "path too long"
	SkipParent       SkipReason = "parent is not a directory"
	SkipLinkMissing  SkipReason = "hard link target missing"
	SkipLinkDir      SkipReason = "hard link to a directory"
	SkipLinkEscapes  SkipReason = "hard link target escapes the root"
	SkipType         SkipReason = "unsupported entry type"
	SkipOwner        SkipReason = "owner out of range"
	SkipBadWhiteout  SkipReason = "malformed whiteout"
	SkipAufsMetadata SkipReason = "aufs metadata"
)

// Skipped is an entry Apply did not apply.
type Skipped struct {
	// Path is the entry's name as written in the tar.
	Path   string
	Reason SkipReason
	// Detail adds data: the parent that is not a directory, the link
	// target, the type flag.
	Detail string
}

// Apply reads a tar stream (decompressed: see Decompress) as the next
// layer of the tree. File contents are hashed while streaming, never
// kept. Whiteouts and opaque markers of the layer apply to the lower
// layers once the whole layer is read; they never hide entries of the same
// layer. The stream is read to its end, so that a checksum at its end is
// verified. Errors are *LayerError; the tree must not be used after one.
func (t *Tree) Apply(ctx context.Context, tarStream io.Reader, opts ApplyOptions) (LayerStats, error) {
	a := &applier{
		t:     t,
		opts:  opts,
		lim:   opts.Limits.withDefaults(),
		index: t.layers,
	}
	a.src = &countingReader{ctx: ctx, r: tarStream, max: a.lim.MaxLayerBytes}
	err := a.run()
	a.stats.Bytes = a.src.n
	if err != nil {
		return a.stats, &LayerError{Layer: a.index, Path: a.last, Err: err}
	}
	return a.stats, nil
}

type applier struct {
	t     *Tree
	opts  ApplyOptions
	lim   Limits
	index int
	layer uint16
	src   *countingReader
	stats LayerStats
	// last is the name of the last entry read.
	last      string
	whiteouts []marker
	opaques   []marker
	buf       []byte
	hash      hash.Hash
}

func (a *applier) run() error {
	if a.t.layers >= math.MaxUint16 {
		return &LimitError{Limit: LimitLayers, Max: math.MaxUint16}
	}
	a.t.layers++
	a.layer = uint16(a.t.layers)
	tr := tar.NewReader(a.src)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return a.readErr(err)
		}
		a.last = hdr.Name
		a.stats.Entries++
		if a.stats.Entries > a.lim.MaxEntries {
			return &LimitError{Limit: LimitEntries, Max: int64(a.lim.MaxEntries)}
		}
		if err := a.entry(hdr, tr); err != nil {
			return err
		}
		if a.t.live > a.lim.MaxEntries {
			return &LimitError{Limit: LimitEntries, Max: int64(a.lim.MaxEntries)}
		}
	}
	a.last = ""
	// Read the end of the stream: the padding after the end-of-archive
	// blocks and the compression's trailer, bounded by MaxLayerBytes.
	if _, err := io.CopyBuffer(io.Discard, a.src, a.buffer()); err != nil {
		return a.readErr(err)
	}
	a.finish()
	return nil
}

// readErr classifies an error of the tar reader: the stream's own error
// (the registry, the decompressor, a limit, the context) as it is, any
// other as a corrupt tar.
func (a *applier) readErr(err error) error {
	if a.src.err != nil {
		return a.src.err
	}
	return corrupt(err)
}

func (a *applier) buffer() []byte {
	if a.buf == nil {
		a.buf = make([]byte, 32<<10)
	}
	return a.buf
}

func (a *applier) skip(name string, reason SkipReason, detail string) {
	a.stats.SkippedTotal++
	if len(a.stats.Skipped) < MaxSkippedListed {
		a.stats.Skipped = append(a.stats.Skipped, Skipped{Path: name, Reason: reason, Detail: detail})
	}
}

// cleanPath turns a tar name into a tree path; ok is false when it
// escapes the root.
func cleanPath(name string) (string, bool) {
	// A name that climbs above the root is refused rather than clamped.
	if climbs(name) {
		return "", false
	}
	p := strings.TrimSuffix(strings.TrimPrefix(name, "/"), "/")
	if isClean(p) {
		return p, true
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), true
}

// isClean reports whether p is already a clean relative path: no empty,
// "." or ".." component.
func isClean(p string) bool {
	if p == "" {
		return false
	}
	for part := range strings.SplitSeq(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// climbs reports whether a relative name goes above its root at some
// point ("../x", "a/../../x"). A leading "/" counts as the root.
func climbs(name string) bool {
	depth := 0
	for part := range strings.SplitSeq(name, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

func (a *applier) entry(hdr *tar.Header, tr *tar.Reader) error {
	name := hdr.Name
	if strings.IndexByte(name, 0) >= 0 {
		a.skip(name, SkipNUL, "")
		return nil
	}
	p, ok := cleanPath(name)
	if !ok {
		a.skip(name, SkipEscapes, "")
		return nil
	}
	if p == "" {
		// The root directory itself.
		return nil
	}
	if len(p) > a.lim.MaxPathLen {
		a.skip(name, SkipPathTooLong, fmt.Sprint(len(p)))
		return nil
	}
	if a.opts.EStargz && (p == "stargz.index.json" || p == ".prefetch.landmark" || p == ".no.prefetch.landmark") {
		return nil
	}
	p = strings.Clone(p)
	dir, base := parentPath(p), path.Base(p)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(name, dir, base)
	}
	var n node
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse: //nolint:staticcheck // TypeRegA: old archives still use it
		n.typ = Regular
	case tar.TypeDir:
		n.typ = Dir
	case tar.TypeSymlink:
		n.typ = Symlink
	case tar.TypeLink:
		n.typ = Hardlink
	case tar.TypeChar:
		n.typ = Char
	case tar.TypeBlock:
		n.typ = Block
	case tar.TypeFifo:
		n.typ = FIFO
	case tar.TypeXGlobalHeader:
		return nil
	default:
		a.skip(name, SkipType, fmt.Sprintf("%q", hdr.Typeflag))
		return nil
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || int64(hdr.Uid) > math.MaxUint32 || int64(hdr.Gid) > math.MaxUint32 {
		a.skip(name, SkipOwner, fmt.Sprintf("%d:%d", hdr.Uid, hdr.Gid))
		return nil
	}
	n.uid, n.gid = uint32(hdr.Uid), uint32(hdr.Gid)
	n.mode = uint32(hdr.Mode & 0o7777)
	n.layer = a.layer
	parent, reason, detail := a.parents(p)
	if reason != "" {
		a.skip(name, reason, detail)
		return nil
	}
	var link string
	var info any
	switch n.typ {
	case Regular:
		if hdr.Size > a.lim.MaxFileSize {
			return &LimitError{Limit: LimitFileSize, Max: a.lim.MaxFileSize, Path: p}
		}
		var err error
		if info, err = a.content(p, &n, hdr, tr); err != nil {
			return err
		}
	case Symlink:
		link = strings.Clone(hdr.Linkname)
	case Hardlink:
		target, ok := cleanPath(hdr.Linkname)
		if !ok || target == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			a.skip(name, SkipLinkEscapes, fmt.Sprintf("%q", hdr.Linkname))
			return nil
		}
		ti, ok := a.t.find(target)
		switch {
		case ok && a.t.nodes[ti].typ == Dir:
			a.skip(name, SkipLinkDir, target)
			return nil
		case ok && a.t.nodes[ti].typ != Whiteout:
			// A hard link is another name of its target's inode: same
			// type, attributes and content, whatever its own header says.
			tn := a.t.nodes[ti]
			n.typ, n.digest, n.size, n.uid, n.gid, n.mode, n.flags = tn.typ, tn.digest, tn.size, tn.uid, tn.gid, tn.mode, tn.flags&flagDigest
			if tn.typ == Regular || tn.typ == Hardlink {
				n.typ = Hardlink
				link = strings.Clone(target)
				info = a.t.infos[ti]
			} else {
				link = a.t.links[ti]
			}
		case a.t.overlay && !a.hiddenInOverlay(target):
			// The target is in the unknown base: so are its type,
			// attributes and content.
			link = strings.Clone(target)
			n.flags |= flagBaseTarget
		default:
			a.skip(name, SkipLinkMissing, target)
			return nil
		}
	}
	a.put(p, parent, n, link, info)
	return nil
}

// content hashes a regular file's bytes, letting Inspect read them first
// when it wants to.
func (a *applier) content(p string, n *node, hdr *tar.Header, tr *tar.Reader) (any, error) {
	if a.hash == nil {
		a.hash = sha256.New()
	}
	h := a.hash
	h.Reset()
	var info any
	if a.opts.Inspect != nil && a.opts.Want != nil {
		e := &Entry{Path: p, Type: Regular, Mode: fileMode(n.mode), UID: int(n.uid), GID: int(n.gid), Size: hdr.Size}
		if a.opts.Want(e) {
			var err error
			info, err = a.opts.Inspect(e, io.TeeReader(tr, h))
			if err != nil {
				if a.src.err != nil {
					return nil, a.src.err
				}
				return nil, fmt.Errorf("inspecting %q: %w", p, err)
			}
		}
	}
	if _, err := io.CopyBuffer(h, tr, a.buffer()); err != nil {
		return nil, a.readErr(err)
	}
	h.Sum(n.digest[:0])
	n.size = hdr.Size
	n.flags |= flagDigest
	return info, nil
}

// hiddenInOverlay reports whether the applied layers of an overlay tree
// hide path from the base: a whiteout, an opaque directory or a
// non-directory above it.
func (a *applier) hiddenInOverlay(p string) bool {
	return a.t.state(p) == stateAbsent
}

// parents makes sure every directory above p exists, creating implicit
// directories where needed. reason is set when a parent is not a
// directory; then nothing was created.
func (a *applier) parents(p string) (parent int32, reason SkipReason, detail string) {
	t := a.t
	// Check first, create after: a skipped entry leaves no trace.
	if reason, detail := a.checkParents(p); reason != "" {
		return 0, reason, detail
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		d := p[:i]
		if j, ok := t.find(d); ok && t.nodes[j].typ == Dir {
			parent = j
			continue
		} else if ok {
			// A whiteout of a lower layer of an overlay tree: the
			// directory is new, the base's one stays hidden.
			t.remove(j)
			parent = t.add(d, parent, node{typ: Dir, mode: 0o755, layer: a.layer, flags: flagImplicit | flagOpaque})
			continue
		}
		parent = t.add(d, parent, node{typ: Dir, mode: 0o755, layer: a.layer, flags: flagImplicit})
	}
	return parent, "", ""
}

// checkParents reports a parent of p that is neither a directory nor a
// whiteout (which parents replaces).
func (a *applier) checkParents(p string) (SkipReason, string) {
	t := a.t
	for d := parentPath(p); d != ""; d = parentPath(d) {
		i, ok := t.find(d)
		if !ok {
			continue
		}
		if typ := t.nodes[i].typ; typ != Dir && typ != Whiteout {
			return SkipParent, fmt.Sprintf("%q is a %s", d, typ)
		}
	}
	return "", ""
}

// put writes node n at p below parent: a directory over a directory keeps
// the entries below it, anything else replaces what was there.
func (a *applier) put(p string, parent int32, n node, link string, info any) {
	t := a.t
	if i, ok := t.find(p); ok {
		old := t.nodes[i]
		if old.typ == Dir && n.typ == Dir {
			n.flags |= old.flags & flagOpaque
			t.replace(i, n)
			return
		}
		t.remove(i)
		if t.overlay && n.typ == Dir {
			// What was there (a whiteout, a non-directory) hid the base's
			// directory; the new one does not bring it back.
			n.flags |= flagOpaque
		}
	}
	i := t.add(p, parent, n)
	if link != "" {
		t.links[i] = link
	}
	if info != nil {
		t.infos[i] = info
	}
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// marker is a whiteout or an opaque marker of the layer being read.
type marker struct {
	// name is the tar entry's name, target the path it whites out or
	// the directory it makes opaque.
	name, target string
}

// whiteout records a whiteout or an opaque marker, applied by finish.
func (a *applier) whiteout(name, dir, base string) error {
	switch {
	case base == opaqueMarker:
		a.opaques = append(a.opaques, marker{name: name, target: dir})
	case strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix):
		a.skip(name, SkipAufsMetadata, "")
	default:
		b := base[len(whiteoutPrefix):]
		if b == "" || b == "." || b == ".." {
			a.skip(name, SkipBadWhiteout, "")
			return nil
		}
		a.whiteouts = append(a.whiteouts, marker{name: name, target: path.Join(dir, b)})
	}
	return nil
}

// finish applies the layer's opaque markers and whiteouts to the lower
// layers.
func (a *applier) finish() {
	t := a.t
	for _, m := range a.opaques {
		// The marker's directory exists, if only implicitly.
		if m.target != "" {
			if _, reason, detail := a.parents(m.target + "/x"); reason != "" {
				a.skip(m.name, reason, detail)
				continue
			}
		}
		i, _ := t.lookup(m.target)
		for c := t.nodes[i].child; c != 0; {
			next := t.nodes[c].next
			a.prune(c)
			c = next
		}
		if t.overlay {
			a.markOpaque(i)
		}
	}
	slices.SortFunc(a.whiteouts, func(x, y marker) int { return ComparePaths(x.target, y.target) })
	a.whiteouts = slices.CompactFunc(a.whiteouts, func(x, y marker) bool { return x.target == y.target })
	for _, m := range a.whiteouts {
		p := m.target
		if i, ok := t.find(p); ok && a.prune(i) {
			if t.overlay && t.nodes[i].typ == Dir {
				a.markOpaque(i)
			}
			continue
		}
		if reason, detail := a.checkParents(p); reason != "" {
			a.skip(m.name, reason, detail)
			continue
		}
		if !t.overlay || t.state(p) == stateAbsent {
			// Nothing to record, or a whiteout or an opaque directory
			// above it already hides it.
			continue
		}
		parent, _, _ := a.parents(p)
		t.add(p, parent, node{typ: Whiteout, layer: a.layer})
	}
}

// prune removes what lower layers put at node i and below, keeping the
// entries of this layer; a lower directory above such an entry becomes an
// implicit directory of this layer. It reports whether node i remains.
func (a *applier) prune(i int32) bool {
	t := a.t
	for c := t.nodes[i].child; c != 0; {
		next := t.nodes[c].next
		a.prune(c)
		c = next
	}
	n := &t.nodes[i]
	if n.layer == a.layer {
		return true
	}
	if n.child != 0 {
		t.replace(i, node{typ: Dir, mode: 0o755, layer: a.layer, flags: flagImplicit})
		return true
	}
	t.remove(i)
	return false
}

// markOpaque marks the directory i and every directory below it opaque:
// the base's entries below them are hidden.
func (a *applier) markOpaque(i int32) {
	t := a.t
	n := &t.nodes[i]
	if n.typ != Dir {
		return
	}
	n.flags |= flagOpaque
	for c := n.child; c != 0; c = t.nodes[c].next {
		a.markOpaque(c)
	}
}

// countingReader counts the bytes of a layer, stops at the limit, checks
// the context and remembers the stream's own error.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
	max int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	if c.n >= c.max {
		// One byte more than the limit tells a stream that ends right at
		// it from one that goes on.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n == 0 && errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		c.err = &LimitError{Limit: LimitLayerBytes, Max: c.max}
		return 0, c.err
	}
	if int64(len(p)) > c.max-c.n {
		p = p[:c.max-c.n]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}
