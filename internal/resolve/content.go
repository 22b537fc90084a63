package resolve

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
)

// Content reads (as opposed to resolution, which only asks for digests):
// manifests, blobs and referrers, through the same hosts, mirrors,
// credentials, address guard, redirect rules and per-registry
// concurrency limit as Resolve.

// Manifest is a manifest or an index as a registry served it.
type Manifest struct {
	// Reference is the reference asked for.
	Reference imageref.Reference
	// Digest is the digest of Body.
	Digest digest.Digest
	// MediaType is the manifest's media type (the Content-Type, or the
	// body's mediaType field).
	MediaType string
	// Body is the manifest as served, at most 4 MiB.
	Body []byte
	// Registry is the host that answered (a mirror or the reference's
	// own registry).
	Registry string
}

// Descriptor points at a blob or a manifest, as OCI descriptors do.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// DigestError says that content did not hash to the digest it was asked
// for by: the registry (or something between) served other bytes.
type DigestError struct {
	// What is "manifest" or "blob".
	What string
	// Want is the digest asked for, Got what the bytes hash to.
	Want, Got digest.Digest
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("the %s served for %s hashes to %s", e.What, e.Want, e.Got)
}

// SizeError says that a blob is larger than its descriptor says.
type SizeError struct {
	Digest digest.Digest
	Size   int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("blob %s is larger than the %d bytes its descriptor gives", e.Digest, e.Size)
}

// Manifest fetches the manifest or index ref names: by digest when ref
// carries one (the body is then checked against it), else by tag. The
// call is bounded by the Resolver's timeout. Errors are *Error values,
// classified as for Resolve; a body that does not match the digest asked
// for is ErrUnavailable wrapping a *DigestError.
func (r *Resolver) Manifest(ctx context.Context, ref imageref.Reference, kc authn.Keychain) (*Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	var out *Manifest
	err := r.eachHost(ctx, ref, kc, func(h *host, cred *credential) error {
		u := h.scheme + "://" + h.name + "/v2/" + ref.Path + "/manifests/" + target(ref)
		m, err := r.readManifest(ctx, h, ref.Path, cred, u, acceptHeader)
		if err != nil {
			return err
		}
		if ref.Digest != "" && m.digest != ref.Digest {
			return &DigestError{What: "manifest", Want: ref.Digest, Got: m.digest}
		}
		out = &Manifest{Reference: ref, Digest: m.digest, MediaType: m.mediaType, Body: m.body, Registry: h.name}
		return nil
	})
	return out, err
}

// Blob opens the blob desc describes in ref's repository (GET
// /v2/<repository>/blobs/<digest>, redirects followed under the same
// rules as manifests). The body is streamed: reading it to the end
// checks its digest, and its size when desc.Size is positive, and fails
// with a *DigestError or *SizeError otherwise. The request holds one of
// the registry's concurrency slots until the body is closed, and is
// bounded by ctx only: a large blob may take longer than the Resolver's
// timeout.
func (r *Resolver) Blob(ctx context.Context, ref imageref.Reference, desc Descriptor, kc authn.Keychain) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, &Error{Ref: ref.Original, Registry: registryHost(ref.Domain), Class: ErrNotFound, Reason: ReasonStatus,
			Detail: fmt.Sprintf("invalid blob digest %q: %v", desc.Digest, err), Err: err}
	}
	var out io.ReadCloser
	err := r.eachHost(ctx, ref, kc, func(h *host, cred *credential) error {
		u := h.scheme + "://" + h.name + "/v2/" + ref.Path + "/blobs/" + desc.Digest.String()
		resp, err := r.get(ctx, h, ref.Path, cred, u, "") //nolint:bodyclose // the body is the blob returned to the caller, who closes it
		if err != nil {
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusNotFound {
				return &blobMissingError{digest: desc.Digest}
			}
			return err
		}
		out = newVerifier(resp.Body, desc)
		return nil
	})
	return out, err
}

// referrersMediaType is what the referrers API answers with.
const referrersMediaType = "application/vnd.oci.image.index.v1+json"

// Referrers lists the manifests that refer to d in ref's repository (OCI
// 1.1 GET /v2/<repository>/referrers/<digest>), only those of
// artifactType unless it is empty. When the registry has no referrers
// API (404), it reads the referrers tag schema (the index tagged
// sha256-<hex>) instead; no such tag means no referrers.
func (r *Resolver) Referrers(ctx context.Context, ref imageref.Reference, d digest.Digest, artifactType string, kc authn.Keychain) ([]Descriptor, error) {
	if err := d.Validate(); err != nil {
		return nil, &Error{Ref: ref.Original, Registry: registryHost(ref.Domain), Class: ErrNotFound, Reason: ReasonStatus,
			Detail: fmt.Sprintf("invalid digest %q: %v", d, err), Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	var out []Descriptor
	err := r.eachHost(ctx, ref, kc, func(h *host, cred *credential) error {
		base := h.scheme + "://" + h.name + "/v2/" + ref.Path
		u := base + "/referrers/" + d.String()
		if artifactType != "" {
			u += "?artifactType=" + url.QueryEscape(artifactType)
		}
		m, err := r.readManifest(ctx, h, ref.Path, cred, u, referrersMediaType)
		var se *statusError
		if errors.As(err, &se) && se.code == http.StatusNotFound {
			// No referrers API: the fallback tag.
			tag := d.Algorithm().String() + "-" + d.Encoded()
			m, err = r.readManifest(ctx, h, ref.Path, cred, base+"/manifests/"+tag, referrersMediaType)
			if errors.As(err, &se) && se.code == http.StatusNotFound {
				out = nil
				return nil
			}
		}
		if err != nil {
			return err
		}
		var idx struct {
			Manifests []Descriptor `json:"manifests"`
		}
		if err := json.Unmarshal(m.body, &idx); err != nil {
			return fmt.Errorf("decoding the referrers of %s: %w", d, err)
		}
		out = out[:0]
		for _, desc := range idx.Manifests {
			if artifactType == "" || desc.ArtifactType == artifactType {
				out = append(out, desc)
			}
		}
		return nil
	})
	return out, err
}

// blobMissingError is a 404 for a blob.
type blobMissingError struct{ digest digest.Digest }

func (e *blobMissingError) Error() string { return "no blob " + e.digest.String() }

// eachHost calls try for each host ref may be read from (its mirrors,
// then its registry) with the credential for it, until one succeeds, and
// returns the last error classified.
func (r *Resolver) eachHost(ctx context.Context, ref imageref.Reference, kc authn.Keychain, try func(*host, *credential) error) error {
	hosts := append(append([]string(nil), r.opts.mirrors[ref.Domain]...), registryHost(ref.Domain))
	var err error
	for _, name := range hosts {
		h := r.host(name)
		cred, cerr := r.callCredential(ctx, h, ref.Path, kc)
		if cerr == nil && cred == nil {
			cred, cerr = r.credential(ctx, h)
		}
		if cerr != nil {
			err = r.classifyContent(ref, h, cred, cerr)
		} else if terr := try(h, cred); terr != nil {
			err = r.classifyContent(ref, h, cred, terr)
		} else {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return err
}

// classifyContent classifies like classify, with what content reads add.
func (r *Resolver) classifyContent(ref imageref.Reference, h *host, cred *credential, err error) error {
	var (
		bm *blobMissingError
		de *DigestError
	)
	switch {
	case errors.As(err, &bm):
		return &Error{Ref: ref.Original, Registry: h.name, Class: ErrNotFound, Reason: ReasonBlobUnknown, Status: http.StatusNotFound,
			Detail: fmt.Sprintf("%s has no blob %s in repository %s", h.name, bm.digest, ref.Path), Err: err, Anonymous: cred == nil || cred.anonymous()}
	case errors.As(err, &de):
		return &Error{Ref: ref.Original, Registry: h.name, Class: ErrUnavailable, Reason: ReasonStatus, Detail: de.Error(), Err: err,
			Anonymous: cred == nil || cred.anonymous()}
	}
	return r.classify(ref, h, cred, err)
}

// readManifest GETs a manifest-like document at u (at most 4 MiB) and
// hashes it.
func (r *Resolver) readManifest(ctx context.Context, h *host, repo string, cred *credential, u, accept string) (fetched, error) {
	resp, err := r.get(ctx, h, repo, cred, u, accept)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return fetched{}, err
	}
	if len(body) > maxManifestBytes {
		return fetched{}, fmt.Errorf("manifest larger than %d bytes", maxManifestBytes)
	}
	f := fetched{manifest: manifest{mediaType: mediaType(resp.Header.Get("Content-Type")), digest: digest.FromBytes(body)}, body: body}
	if hd, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && hd.Algorithm() == digest.SHA256 && hd != f.digest {
		return fetched{}, &DigestError{What: "manifest", Want: hd, Got: f.digest}
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(body, &probe) == nil && probe.MediaType != "" && (f.mediaType == "" || f.mediaType == "application/json" || f.mediaType == "text/plain") {
		f.mediaType = probe.MediaType
	}
	return f, nil
}

// get sends a GET for u to h with cred's authorization and returns the
// 200 response, its body open. It authorizes once more on a 401 and
// retries transient failures while the attempts and ctx's deadline allow.
func (r *Resolver) get(ctx context.Context, h *host, repo string, cred *credential, u, accept string) (*http.Response, error) {
	ra := h.repoAuth(repo, cred.id)
	authorize := func(ctx context.Context) (string, error) {
		return r.authorize(ctx, h, h.challenge(), repo, cred)
	}
	reauthorized := false
	for attempt := 1; ; attempt++ {
		hdr, gen := ra.current()
		if gen == 0 && h.challenge() != nil {
			if err := ra.refresh(ctx, gen, authorize); err != nil {
				return nil, err
			}
			hdr, gen = ra.current()
		}
		resp, err := r.send(ctx, h, u, accept, hdr)
		var se *statusError
		switch {
		case err == nil:
			return resp, nil
		case errors.As(err, &se) && se.code == http.StatusUnauthorized:
			if reauthorized || h.challenge() == nil {
				return nil, err
			}
			reauthorized = true
			if err := ra.refresh(ctx, gen, authorize); err != nil {
				return nil, err
			}
			attempt--
			continue
		case !isTransient(err) || attempt >= r.opts.attempts:
			return nil, err
		}
		if werr := wait(ctx, backoff(attempt, err)); werr != nil {
			return nil, fmt.Errorf("%w (gave up after %d attempts: %w)", err, attempt, werr)
		}
	}
}

// send performs one GET and records any challenge; a status other than
// 200 is a *statusError.
func (r *Resolver) send(ctx context.Context, h *host, u, accept, auth string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", r.opts.userAgent)
	setAuthorization(req, auth)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusUnauthorized {
		if c, ok := parseChallenge(resp.Header.Get("WWW-Authenticate")); ok {
			h.setChallenge(c)
		}
	}
	return nil, &statusError{code: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// verifier checks a blob's digest and size while it is read.
type verifier struct {
	body io.ReadCloser
	desc Descriptor
	h    hash.Hash
	n    int64
	err  error
}

func newVerifier(body io.ReadCloser, desc Descriptor) io.ReadCloser {
	v := &verifier{body: body, desc: desc}
	if desc.Digest.Algorithm() == digest.SHA256 {
		v.h = sha256.New()
	} else {
		v.h = desc.Digest.Algorithm().Hash()
	}
	return v
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.desc.Size > 0 && int64(len(p)) > v.desc.Size-v.n+1 {
		p = p[:v.desc.Size-v.n+1] // one byte past the end tells a longer blob
	}
	n, err := v.body.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.desc.Size > 0 && v.n > v.desc.Size {
		v.err = &SizeError{Digest: v.desc.Digest, Size: v.desc.Size}
		return n, v.err
	}
	if errors.Is(err, io.EOF) {
		got := digest.NewDigest(v.desc.Digest.Algorithm(), v.h)
		if got != v.desc.Digest {
			v.err = &DigestError{What: "blob", Want: v.desc.Digest, Got: got}
			return n, v.err
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifier) Close() error { return v.body.Close() }

// IsIndex reports whether mediaType is an image index or manifest list.
func IsIndex(mediaType string) bool {
	return strings.HasSuffix(mediaType, "image.index.v1+json") || strings.HasSuffix(mediaType, "manifest.list.v2+json")
}
