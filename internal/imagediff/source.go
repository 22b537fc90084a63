package imagediff

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/resolve"
)

// Descriptor points at a blob or a manifest.
type Descriptor = resolve.Descriptor

// Manifest is a manifest or an index as served.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Body      []byte
}

// Source gives an image's manifests and blobs.
type Source interface {
	// Name is the image as the user wrote it, for reports and errors.
	Name() string
	// Manifest returns the manifest or index d; "" means the one the
	// image's reference names (by tag or digest).
	Manifest(ctx context.Context, d digest.Digest) (*Manifest, error)
	// Blob opens the blob desc describes. Reading it to the end checks
	// its digest and size.
	Blob(ctx context.Context, desc Descriptor) (io.ReadCloser, error)
}

// ReferrerSource is a Source that can also list the OCI referrers of a
// manifest (SBOMs, signatures, attestations).
type ReferrerSource interface {
	Source
	Referrers(ctx context.Context, d digest.Digest) ([]Descriptor, error)
}

// RegistrySource reads an image from its registry through a resolver:
// with its address guard, credentials, mirrors and concurrency limit.
type RegistrySource struct {
	r   *resolve.Resolver
	ref imageref.Reference
	kc  authn.Keychain
}

// NewRegistrySource returns a Source reading ref through r, with the
// credentials in kc first when kc is not nil.
func NewRegistrySource(r *resolve.Resolver, ref imageref.Reference, kc authn.Keychain) *RegistrySource {
	return &RegistrySource{r: r, ref: ref, kc: kc}
}

// Name implements Source.
func (s *RegistrySource) Name() string { return s.ref.Original }

// Manifest implements Source.
func (s *RegistrySource) Manifest(ctx context.Context, d digest.Digest) (*Manifest, error) {
	ref := s.ref
	if d != "" {
		ref.Digest = d
	}
	m, err := s.r.Manifest(ctx, ref, s.kc)
	if err != nil {
		return nil, err
	}
	return &Manifest{Digest: m.Digest, MediaType: m.MediaType, Body: m.Body}, nil
}

// Blob implements Source.
func (s *RegistrySource) Blob(ctx context.Context, desc Descriptor) (io.ReadCloser, error) {
	return s.r.Blob(ctx, s.ref, desc, s.kc)
}

// Referrers implements ReferrerSource.
func (s *RegistrySource) Referrers(ctx context.Context, d digest.Digest) ([]Descriptor, error) {
	return s.r.Referrers(ctx, s.ref, d, "", s.kc)
}
