package layerfs

import (
	"cmp"
	"io/fs"
)

// Type is the type of an entry.
type Type uint8

// Entry types.
const (
	Regular Type = iota + 1
	Dir
	Symlink
	Hardlink
	Char
	Block
	FIFO
	// Whiteout is a path the applied layers removed; only overlay trees
	// (NewOverlay) hold such entries.
	Whiteout
)

var typeNames = [...]string{
	Regular:  "file",
	Dir:      "dir",
	Symlink:  "symlink",
	Hardlink: "hardlink",
	Char:     "char",
	Block:    "block",
	FIFO:     "fifo",
	Whiteout: "whiteout",
}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "unknown"
}

// MarshalText writes the type's name, so that JSON reports read "file",
// "dir".
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Entry is one path of a tree.
type Entry struct {
	// Path is cleaned, slash-separated, without a leading "/".
	Path string
	Type Type
	// Mode holds the permission bits and the setuid, setgid and sticky
	// bits only.
	Mode     fs.FileMode
	UID, GID int
	// Size is the size of a regular file (of a hard link: its target's).
	Size int64
	// Link is a symbolic link's target as written, or a hard link's
	// target path (cleaned).
	Link string
	// Digest is "sha256:<hex>" of a regular file's content (of a hard
	// link: its target's). It is empty for other types, and for a hard
	// link of an overlay tree whose target is in the unknown base (whose
	// type, attributes and content are then the base's: Diff reports a
	// change of such a link with BaseUnknown).
	Digest string
	// Info is what ApplyOptions.Inspect returned for this content.
	Info any
	// Implicit is true for a directory no tar entry described: it exists
	// because an entry below it needed a parent. In a tree made with
	// NewTree its mode is 0755 and its owner 0:0; in an overlay tree its
	// attributes are the base's when the base has that directory.
	Implicit bool
	// Opaque is true, in an overlay tree only, for a directory that hides
	// every entry the base holds below it.
	Opaque bool
}

// ComparePaths orders paths component by component: a directory comes
// right before its entries ("a", "a/b", "a-b"). It returns -1, 0 or +1.
func ComparePaths(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		return cmp.Compare(ca, cb)
	}
	return cmp.Compare(len(a), len(b))
}
