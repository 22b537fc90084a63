package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Memory is a Store held in memory, for tests and for callers that need
// no persistence.
type Memory struct {
	maxMoves int

	mu        sync.RWMutex
	tags      map[TagKey]*Tag
	revisions map[RevisionKey]digest.Digest
	missing   map[RevisionKey]time.Time
}

var (
	_ Store          = (*Memory)(nil)
	_ RevisionPruner = (*Memory)(nil)
	_ Lister         = (*Memory)(nil)
	_ MissingMarker  = (*Memory)(nil)
)

// NewMemory returns an empty Memory keeping at most maxMoves moves per
// tag (DefaultMaxMoves when maxMoves is zero or less).
func NewMemory(maxMoves int) *Memory {
	if maxMoves <= 0 {
		maxMoves = DefaultMaxMoves
	}
	return &Memory{maxMoves: maxMoves, tags: map[TagKey]*Tag{}, revisions: map[RevisionKey]digest.Digest{}, missing: map[RevisionKey]time.Time{}}
}

// Observe implements Store.
func (m *Memory) Observe(ctx context.Context, key TagKey, d digest.Digest, at time.Time, src Source) (Observation, error) {
	if err := ctx.Err(); err != nil {
		return Observation{}, err
	}
	if err := key.Validate(); err != nil {
		return Observation{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, obs, changed := Record(m.tags[key], key, d, at, src, m.maxMoves)
	if changed {
		m.tags[key] = t
	}
	return obs, nil
}

// Tag implements Store.
func (m *Memory) Tag(ctx context.Context, key TagKey) (*Tag, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.tags[key]
	if !ok {
		return nil, fmt.Errorf("tag %s: %w", key, ErrNotFound)
	}
	return &Tag{Key: t.Key, History: append([]Move(nil), t.History...)}, nil
}

// PinRevision implements Store.
func (m *Memory) PinRevision(ctx context.Context, key RevisionKey, d digest.Digest) (digest.Digest, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := key.Validate(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got, ok := m.revisions[key]; ok {
		return got, nil
	}
	m.revisions[key] = d
	return d, nil
}

// Revision implements Store.
func (m *Memory) Revision(ctx context.Context, key RevisionKey) (digest.Digest, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := m.revisions[key]
	if !ok {
		return "", fmt.Errorf("revision pin %s/%s %s for %s: %w", key.Namespace, key.Owner.Kind, key.Owner.Name, key.Image, ErrNotFound)
	}
	return d, nil
}

// PruneRevisions implements RevisionPruner.
func (m *Memory) PruneRevisions(ctx context.Context, exists func(namespace string, o Owner) bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.revisions {
		if !exists(k.Namespace, k.Owner) {
			delete(m.revisions, k)
			delete(m.missing, k)
			n++
		}
	}
	return n, nil
}

// Tags implements Lister.
func (m *Memory) Tags(ctx context.Context, yield func(*Tag) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	tags := make([]*Tag, 0, len(m.tags))
	for _, t := range m.tags {
		tags = append(tags, &Tag{Key: t.Key, History: append([]Move(nil), t.History...)})
	}
	m.mu.RUnlock()
	for _, t := range tags {
		if !yield(t) {
			break
		}
	}
	return nil
}

// Revisions implements Lister.
func (m *Memory) Revisions(ctx context.Context, yield func(Pin) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	pins := make([]Pin, 0, len(m.revisions))
	for k, d := range m.revisions {
		pins = append(pins, Pin{Key: k, Digest: d, MissingSince: m.missing[k]})
	}
	m.mu.RUnlock()
	for _, p := range pins {
		if !yield(p) {
			break
		}
	}
	return nil
}

// MarkMissing implements MissingMarker.
func (m *Memory) MarkMissing(ctx context.Context, key RevisionKey, since time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch _, ok := m.revisions[key]; {
	case !ok:
	case since.IsZero():
		delete(m.missing, key)
	case m.missing[key].IsZero():
		m.missing[key] = since.UTC()
	}
	return nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
