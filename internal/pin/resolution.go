package pin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/tagpin/tagpin/internal/imageref"
)

// resolution is the outcome of resolving one tag.
type resolution struct {
	digest digest.Digest
	err    error
}

// resolveAll resolves every reference in refs (keyed by tag) exactly
// once, at most Concurrency at a time. Pinned references are resolved by
// their tag. It returns an error only when ctx is done.
func (r *run) resolveAll(ctx context.Context, refs map[string]imageref.Reference) (map[string]resolution, error) {
	keys := slices.Sorted(maps.Keys(refs))
	var (
		// A failed resolution is a result, not an error of the group:
		// it must not cancel the others.
		g        errgroup.Group
		mu       sync.Mutex
		resolved = make(map[string]resolution, len(keys))
	)
	g.SetLimit(r.opts.Concurrency)
	for _, key := range keys {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			d, err := r.resolveTag(ctx, refs[key])
			mu.Lock()
			defer mu.Unlock()
			resolved[key] = resolution{d, err}
			r.progress.printf(len(resolved) == len(keys), "resolving %d/%d", len(resolved), len(keys))
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return resolved, nil
}

// resolveTag resolves ref's tag, without the digest ref may carry.
func (r *run) resolveTag(ctx context.Context, ref imageref.Reference) (digest.Digest, error) {
	if ref.Pinned() {
		tagged, err := imageref.Parse(ref.TagString())
		if err != nil {
			return "", fmt.Errorf("resolving the tag of %s: %w", ref, err)
		}
		ref = tagged
	}
	d, err := r.resolve(ctx, ref)
	if err == nil && d.Validate() != nil {
		err = fmt.Errorf("resolving %s: the resolver returned an invalid digest %q", ref, d)
	}
	return d, err
}
