package pin_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
)

// fakeResolver is a map-backed pin.ResolveFunc that counts calls.
type fakeResolver struct {
	// tags maps normalized tags (imageref.Reference.TagString) to digests.
	tags map[string]digest.Digest
	// derive resolves tags missing from tags to digest.FromString(tag),
	// except those containing "does-not-exist".
	derive bool
	// onResolve, when set, runs before each answer.
	onResolve func(tag string)

	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeResolver) resolve(_ context.Context, ref imageref.Reference) (digest.Digest, error) {
	tag := ref.TagString()
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[tag]++
	f.mu.Unlock()
	if f.onResolve != nil {
		f.onResolve(tag)
	}
	if ref.Pinned() {
		return "", fmt.Errorf("resolving %s: the resolver was given a pinned reference", ref)
	}
	if d, ok := f.tags[tag]; ok {
		return d, nil
	}
	if f.derive && !strings.Contains(tag, "does-not-exist") {
		return digest.FromString(tag), nil
	}
	return "", fmt.Errorf("resolving %s: not found; check that the tag exists", ref)
}

// callCounts returns how often each tag was resolved.
func (f *fakeResolver) callCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		return map[string]int{}
	}
	return maps.Clone(f.calls)
}
