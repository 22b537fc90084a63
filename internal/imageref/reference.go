package imageref

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// DefaultTag is the tag an untagged reference means.
const DefaultTag = "latest"

// ErrInvalid is returned (wrapped) for text that is not an image reference.
var ErrInvalid = errors.New("invalid image reference")

// Reference is a parsed image reference that remembers how it was written.
type Reference struct {
	// Original is the reference exactly as written.
	Original string
	// Name is the repository name as written, without tag or digest
	// (for example "nginx" or "ghcr.io/org/app").
	Name string
	// Domain is the normalized registry host (for example "docker.io").
	Domain string
	// Path is the normalized repository path (for example "library/nginx").
	Path string
	// Tag is the tag; "latest" when the reference carries neither a tag
	// nor a digest.
	Tag string
	// TagWritten reports whether the tag appears in Original.
	TagWritten bool
	// Digest is the digest carried by the reference, if any.
	Digest digest.Digest
}

// Parse parses s as an image reference. The error wraps ErrInvalid and
// says what is wrong with s.
func Parse(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("%w: empty string", ErrInvalid)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalid, s, err)
	}
	r := Reference{
		Original: s,
		Domain:   reference.Domain(named),
		Path:     reference.Path(named),
	}
	rest := s
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest()
		rest = strings.TrimSuffix(rest, "@"+d.Digest().String())
	}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
		r.TagWritten = true
		rest = strings.TrimSuffix(rest, ":"+t.Tag())
	} else if r.Digest == "" {
		r.Tag = DefaultTag
	}
	r.Name = rest
	return r, nil
}

// Pinned reports whether the reference carries a digest.
func (r Reference) Pinned() bool { return r.Digest != "" }

// HasTag reports whether the reference names a tag, written or implied.
// A digest-only reference (name@sha256:…) has none.
func (r Reference) HasTag() bool { return r.Tag != "" }

// Repository returns the normalized "domain/path" of the reference.
func (r Reference) Repository() string { return r.Domain + "/" + r.Path }

// TagString returns the normalized "domain/path:tag", the form filters
// match against and the key under which tags are resolved. It is empty for
// a digest-only reference.
func (r Reference) TagString() string {
	if r.Tag == "" {
		return ""
	}
	return r.Repository() + ":" + r.Tag
}

// WithDigest returns the reference as written with d as its digest:
// "nginx:1.27" becomes "nginx:1.27@sha256:…", an untagged "nginx" becomes
// "nginx:latest@sha256:…" so that the pin can be refreshed later, and an
// existing digest is replaced.
func (r Reference) WithDigest(d digest.Digest) string {
	tag := r.Tag
	if tag == "" {
		return r.Name + "@" + d.String()
	}
	return r.Name + ":" + tag + "@" + d.String()
}

// String returns the reference as written.
func (r Reference) String() string { return r.Original }
