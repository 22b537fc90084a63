package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
)

// acceptHeader lists every manifest media type, indexes first, so the
// registry answers with the digest of what `docker pull` would use.
var acceptHeader = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// maxManifestBytes bounds manifest and config bodies read into memory.
const maxManifestBytes = 4 << 20

// manifest is what a fetch learned.
type manifest struct {
	digest    digest.Digest
	mediaType string
}

// statusError is an unexpected registry response.
type statusError struct {
	code       int
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%d %s", e.code, http.StatusText(e.code))
}

func (e *statusError) transient() bool {
	return e.code == http.StatusTooManyRequests || e.code == http.StatusRequestTimeout || e.code >= 500
}

// fetch asks h for ref's manifest digest: one HEAD with the Accept list,
// a GET only when the digest header is missing or a platform is wanted.
// It retries transient failures only while the context's budget allows.
func (r *Resolver) fetch(ctx context.Context, h *host, ref imageref.Reference, cred *credential, attempts int) (manifest, error) {
	target := ref.Tag
	if ref.Digest != "" {
		target = ref.Digest.String()
	}
	method := http.MethodHead
	if r.opts.platform != nil {
		method = http.MethodGet
	}
	url := h.scheme + "://" + h.name + "/v2/" + ref.Path + "/manifests/" + target
	ra := h.repoAuth(ref.Path, cred.id)
	authorize := func(ctx context.Context) (string, error) {
		return r.authorize(ctx, h, h.challenge(), ref.Path, cred)
	}

	reauthorized := false
	for attempt := 1; ; attempt++ {
		hdr, gen := ra.current()
		if gen == 0 && h.challenge() != nil {
			// The registry's challenge is known from an earlier
			// repository: authorize up front instead of taking a 401.
			if err := ra.refresh(ctx, gen, authorize); err != nil {
				return manifest{}, err
			}
			hdr, gen = ra.current()
		}
		m, err := r.request(ctx, h, method, url, hdr)
		var se *statusError
		switch {
		case err == nil && m.digest == "" && method == http.MethodHead:
			method = http.MethodGet // no Docker-Content-Digest: hash the body
			attempt--
			continue
		case err == nil && r.opts.platform != nil:
			return r.selectPlatform(ctx, h, ref, hdr, m)
		case err == nil:
			return m.manifest, nil
		case errors.As(err, &se) && se.code == http.StatusUnauthorized:
			if reauthorized || h.challenge() == nil {
				return manifest{}, err
			}
			reauthorized = true
			if err := ra.refresh(ctx, gen, authorize); err != nil {
				return manifest{}, err
			}
			attempt--
			continue
		case !isTransient(err) || attempt >= attempts:
			return manifest{}, err
		}
		if werr := wait(ctx, backoff(attempt, err)); werr != nil {
			return manifest{}, fmt.Errorf("%w (gave up after %d attempts: %w)", err, attempt, werr)
		}
	}
}

// fetched is one manifest response.
type fetched struct {
	manifest
	body []byte // only for GET
}

// request performs one manifest request and records any challenge.
func (r *Resolver) request(ctx context.Context, h *host, method, url, auth string) (fetched, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return fetched{}, err
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("User-Agent", r.opts.userAgent)
	setAuthorization(req, auth)
	resp, err := r.client.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode == http.StatusUnauthorized {
			if c, ok := parseChallenge(resp.Header.Get("WWW-Authenticate")); ok {
				h.setChallenge(c)
			}
		}
		return fetched{}, &statusError{code: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	f := fetched{manifest: manifest{mediaType: mediaType(resp.Header.Get("Content-Type"))}}
	if d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil {
		f.digest = d
	}
	if method == http.MethodHead {
		return f, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return fetched{}, err
	}
	if len(body) > maxManifestBytes {
		return fetched{}, fmt.Errorf("manifest larger than %d bytes", maxManifestBytes)
	}
	f.body = body
	computed := digest.FromBytes(body)
	if f.digest != "" && f.digest != computed && f.digest.Algorithm() == digest.SHA256 {
		return fetched{}, fmt.Errorf("registry sent digest %s for a manifest that hashes to %s", f.digest, computed)
	}
	f.digest = computed
	if f.mediaType == "" {
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(body, &probe) == nil {
			f.mediaType = probe.MediaType
		}
	}
	return f, nil
}

// manifestBody is the subset of an index or image manifest tagpin reads.
type manifestBody struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
		Platform  *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		} `json:"platform"`
	} `json:"manifests"`
	Config *struct {
		Digest digest.Digest `json:"digest"`
	} `json:"config"`
}

// selectPlatform picks the wanted platform's manifest out of an index, or
// checks that a single-platform image is that platform.
func (r *Resolver) selectPlatform(ctx context.Context, h *host, ref imageref.Reference, auth string, f fetched) (manifest, error) {
	want := *r.opts.platform
	var body manifestBody
	if err := json.Unmarshal(f.body, &body); err != nil {
		return manifest{}, fmt.Errorf("decoding manifest: %w", err)
	}
	if body.Config == nil {
		var have []string
		for _, m := range body.Manifests {
			if m.Platform == nil {
				continue
			}
			p := Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
			if want.matches(p) {
				return manifest{digest: m.Digest, mediaType: m.MediaType}, nil
			}
			have = append(have, p.String())
		}
		return manifest{}, &platformError{want: want.String(), have: have}
	}
	// A single-platform image: its config says which platform it is.
	url := h.scheme + "://" + h.name + "/v2/" + ref.Path + "/blobs/" + body.Config.Digest.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return manifest{}, err
	}
	req.Header.Set("User-Agent", r.opts.userAgent)
	setAuthorization(req, auth)
	resp, err := r.client.Do(req)
	if err != nil {
		return manifest{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return manifest{}, &statusError{code: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	var cfg struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxManifestBytes)).Decode(&cfg); err != nil {
		return manifest{}, fmt.Errorf("decoding image config: %w", err)
	}
	p := Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if !want.matches(p) {
		return manifest{}, &platformError{want: want.String(), have: []string{p.String()}}
	}
	return f.manifest, nil
}

// platformError says that an image does not exist for a platform.
type platformError struct {
	want string
	have []string
}

func (e *platformError) Error() string {
	if len(e.have) == 0 {
		return "no manifest for platform " + e.want + " (the index lists no platforms)"
	}
	return fmt.Sprintf("no manifest for platform %s (available: %s)", e.want, strings.Join(e.have, ", "))
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// isTransient reports whether err may go away by retrying.
func isTransient(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.transient()
	}
	var be *blockedError
	if errors.As(err, &be) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true // network errors
}

// backoff is the wait before attempt+1: what Retry-After asks, otherwise
// 100ms doubling up to 2s.
func backoff(attempt int, err error) time.Duration {
	var se *statusError
	if errors.As(err, &se) && se.retryAfter > 0 {
		return se.retryAfter
	}
	return min(100*time.Millisecond<<(attempt-1), 2*time.Second)
}

// errBudget means a retry would not fit in the caller's deadline.
var errBudget = errors.New("no time left in the deadline for another attempt")

// wait sleeps for d unless that would outlive ctx's deadline.
func wait(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return errBudget
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
