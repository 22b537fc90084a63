package layerfs

import (
	"encoding/hex"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// Tree is the file index of an image built layer by layer (Apply). Only
// the index is kept: about 100 bytes per entry plus its path. A Tree is
// not safe for concurrent use while Apply runs; Get, Walk, Len and Diff
// may run concurrently with each other.
type Tree struct {
	overlay bool
	// nodes[0] is the root directory, never reported.
	nodes []node
	index pathIndex
	free  []int32
	// links holds link targets and infos Inspect results, by node: few
	// entries have one, so they are not fields of node.
	links  map[int32]string
	infos  map[int32]any
	layers int
	live   int
	// sorted holds the live nodes in path order, nil after a change;
	// readers (Walk, Diff) fill it under sortMu.
	sortMu sync.Mutex
	sorted []int32
}

// node is the compact form of an Entry.
type node struct {
	path   string
	digest [32]byte
	size   int64
	uid    uint32
	gid    uint32
	mode   uint32
	layer  uint16
	typ    Type
	flags  uint8
	// The tree: parent, first child, next and previous sibling; 0 is
	// none (the root is nobody's child or sibling).
	parent, child, next, prev int32
}

const (
	flagImplicit uint8 = 1 << iota
	flagOpaque
	flagDigest
	// flagBaseTarget: a hard link of an overlay tree to an entry of the
	// unknown base; its type, attributes and content are the base's.
	flagBaseTarget
)

// NewTree returns an empty tree that, given every layer of an image bottom
// first, is that image's final file system.
func NewTree() *Tree { return newTree(false) }

// NewOverlay returns an empty tree that, given the layers of an image
// above a base it does not read, is what those layers change on top of
// the base; see the package documentation.
func NewOverlay() *Tree { return newTree(true) }

func newTree(overlay bool) *Tree {
	return &Tree{
		overlay: overlay,
		nodes:   []node{{typ: Dir}},
		index:   newPathIndex(),
		links:   map[int32]string{},
		infos:   map[int32]any{},
	}
}

// Overlay reports whether the tree was made with NewOverlay.
func (t *Tree) Overlay() bool { return t.overlay }

// Len returns the number of entries (whiteouts of an overlay tree
// included).
func (t *Tree) Len() int { return t.live }

// Get returns the entry at path (cleaned, without a leading "/").
func (t *Tree) Get(path string) (*Entry, bool) {
	i, ok := t.find(path)
	if !ok {
		return nil, false
	}
	return t.entry(i), true
}

// Walk calls fn for every entry in path order (ComparePaths) and stops at
// the first error, which it returns.
func (t *Tree) Walk(fn func(e *Entry) error) error {
	for _, i := range t.order() {
		if err := fn(t.entry(i)); err != nil {
			return err
		}
	}
	return nil
}

// order returns the live nodes in path order, sorted once after each
// change.
func (t *Tree) order() []int32 {
	t.sortMu.Lock()
	defer t.sortMu.Unlock()
	if t.sorted == nil {
		t.sorted = t.sortNodes()
	}
	return t.sorted
}

func (t *Tree) sortNodes() []int32 {
	s := make([]int32, 0, t.live)
	for i := 1; i < len(t.nodes); i++ {
		if t.nodes[i].path != "" {
			s = append(s, int32(i))
		}
	}
	slices.SortFunc(s, func(a, b int32) int { return ComparePaths(t.nodes[a].path, t.nodes[b].path) })
	return s
}

func (t *Tree) entry(i int32) *Entry {
	n := &t.nodes[i]
	e := &Entry{
		Path:     n.path,
		Type:     n.typ,
		Mode:     fileMode(n.mode),
		UID:      int(n.uid),
		GID:      int(n.gid),
		Size:     n.size,
		Link:     t.links[i],
		Info:     t.infos[i],
		Implicit: n.flags&flagImplicit != 0,
		Opaque:   n.flags&flagOpaque != 0,
	}
	if n.flags&flagDigest != 0 {
		e.Digest = "sha256:" + hex.EncodeToString(n.digest[:])
	}
	return e
}

// fileMode turns Unix mode bits into fs.FileMode permission and special
// bits.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// add creates a node at path as the last child of parent.
func (t *Tree) add(path string, parent int32, n node) int32 {
	n.path = path
	n.parent = parent
	n.child, n.next, n.prev = 0, 0, 0
	var i int32
	if k := len(t.free); k > 0 {
		i = t.free[k-1]
		t.free = t.free[:k-1]
		t.nodes[i] = n
	} else {
		i = int32(len(t.nodes))
		t.nodes = append(t.nodes, n)
	}
	p := &t.nodes[parent]
	if p.child != 0 {
		// Insert at the front: O(1); order among siblings does not matter.
		t.nodes[p.child].prev = i
		t.nodes[i].next = p.child
	}
	p.child = i
	t.index.put(t.nodes, i)
	t.live++
	t.sorted = nil
	return i
}

// remove deletes node i and everything below it.
func (t *Tree) remove(i int32) {
	for c := t.nodes[i].child; c != 0; {
		next := t.nodes[c].next
		t.remove(c)
		c = next
	}
	n := &t.nodes[i]
	if n.prev != 0 {
		t.nodes[n.prev].next = n.next
	} else {
		t.nodes[n.parent].child = n.next
	}
	if n.next != 0 {
		t.nodes[n.next].prev = n.prev
	}
	t.index.del(t.nodes, i)
	delete(t.links, i)
	delete(t.infos, i)
	*n = node{}
	t.free = append(t.free, i)
	t.live--
	t.sorted = nil
}

// replace overwrites the attributes of node i, keeping its place and its
// children.
func (t *Tree) replace(i int32, n node) {
	old := &t.nodes[i]
	n.path, n.parent, n.child, n.next, n.prev = old.path, old.parent, old.child, old.next, old.prev
	*old = n
	delete(t.links, i)
	delete(t.infos, i)
	t.sorted = nil
}

// parentPath returns the directory holding path ("" for the root).
func parentPath(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return ""
}

// lookup returns the node at path; the root for "".
func (t *Tree) lookup(path string) (int32, bool) {
	if path == "" {
		return 0, true
	}
	return t.find(path)
}

// at returns the node at path, which must be in the tree.
func (t *Tree) at(path string) int32 {
	i, _ := t.find(path)
	return i
}

// find returns the node at path.
func (t *Tree) find(path string) (int32, bool) {
	return t.index.get(t.nodes, path)
}
