package pin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"

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
	type result struct {
		key string
		resolution
	}
	jobs, results := make(chan string), make(chan result)
	var wg sync.WaitGroup
	for range min(r.opts.Concurrency, len(keys)) {
		wg.Go(func() {
			for key := range jobs {
				d, err := r.resolveTag(ctx, refs[key])
				results <- result{key, resolution{d, err}}
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, k := range keys {
			select {
			case jobs <- k:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	resolved := make(map[string]resolution, len(keys))
	for res := range results {
		resolved[res.key] = res.resolution
		r.progress.printf(len(resolved) == len(keys), "resolving %d/%d", len(resolved), len(keys))
	}
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
