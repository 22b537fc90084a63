package resolve_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
)

// imageManifest is the part of an image manifest the tests read.
type imageManifest struct {
	Config resolve.Descriptor   `json:"config"`
	Layers []resolve.Descriptor `json:"layers"`
}

func TestManifestAndBlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []registrytest.Option
	}{
		{name: "anonymous"},
		{name: "bearer tokens", opts: []registrytest.Option{registrytest.WithTokenAuth("", "")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, tc.opts...)
			want := reg.PushImage(t, "app:1.0")
			r := newResolver(reg)

			byTag, err := r.Manifest(t.Context(), mustParse(t, reg.Ref("app:1.0")), nil)
			if err != nil {
				t.Fatalf("Manifest by tag: %v", err)
			}
			if byTag.Digest != want || byTag.MediaType == "" || resolve.IsIndex(byTag.MediaType) {
				t.Errorf("Manifest by tag = %s %q, want %s, an image manifest", byTag.Digest, byTag.MediaType, want)
			}
			byDigest, err := r.Manifest(t.Context(), mustParse(t, reg.Ref("app@"+want.String())), nil)
			if err != nil {
				t.Fatalf("Manifest by digest: %v", err)
			}
			if diff := cmp.Diff(string(byTag.Body), string(byDigest.Body)); diff != "" {
				t.Errorf("bodies differ (-tag +digest):\n%s", diff)
			}

			var m imageManifest
			if err := json.Unmarshal(byTag.Body, &m); err != nil {
				t.Fatal(err)
			}
			for _, d := range append([]resolve.Descriptor{m.Config}, m.Layers...) {
				rc, err := r.Blob(t.Context(), mustParse(t, reg.Ref("app:1.0")), d, nil)
				if err != nil {
					t.Fatalf("Blob(%s): %v", d.Digest, err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatalf("reading blob %s: %v", d.Digest, err)
				}
				if got := digest.FromBytes(b); got != d.Digest {
					t.Errorf("blob %s hashes to %s", d.Digest, got)
				}
			}

			_, err = r.Blob(t.Context(), mustParse(t, reg.Ref("app:1.0")), resolve.Descriptor{Digest: digest.FromString("absent")}, nil)
			var e *resolve.Error
			if !errors.As(err, &e) || !errors.Is(err, resolve.ErrNotFound) || e.Reason != resolve.ReasonBlobUnknown || !strings.Contains(e.Detail, "no blob") {
				t.Errorf("Blob(absent) = %v, want ErrNotFound naming the blob", err)
			}
			_, err = r.Manifest(t.Context(), mustParse(t, reg.Ref("app:2.0")), nil)
			if !errors.Is(err, resolve.ErrNotFound) {
				t.Errorf("Manifest(app:2.0) = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestManifestIndex(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	want, _ := reg.PushIndex(t, "multi:1", "linux/amd64", "linux/arm64")
	m, err := newResolver(reg).Manifest(t.Context(), mustParse(t, reg.Ref("multi:1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest != want || !resolve.IsIndex(m.MediaType) {
		t.Errorf("Manifest = %s %q, want the index %s", m.Digest, m.MediaType, want)
	}
}

// fakeRegistry serves fixed bodies by path and redirects where asked.
func fakeRegistry(t *testing.T, bodies map[string]string, redirects map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to, ok := redirects[r.URL.Path]; ok {
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
			return
		}
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestContentIsVerified(t *testing.T) {
	t.Parallel()
	good := "the real bytes"
	d := digest.FromString(good)
	addr := fakeRegistry(t, map[string]string{
		"/v2/app/manifests/" + d.String(): "other bytes",
		"/v2/app/blobs/" + d.String():     "other bytes",
	}, nil)
	r := resolve.New(resolve.WithAllowRegistry(addr), resolve.WithInsecureRegistry(addr))

	_, err := r.Manifest(t.Context(), mustParse(t, addr+"/app@"+d.String()), nil)
	var de *resolve.DigestError
	if !errors.As(err, &de) || de.Want != d {
		t.Errorf("Manifest of a wrong body = %v, want a DigestError", err)
	}

	tests := []struct {
		name string
		desc resolve.Descriptor
		want func(error) bool
	}{
		{"digest", resolve.Descriptor{Digest: d}, func(err error) bool { return errors.As(err, new(*resolve.DigestError)) }},
		{"size", resolve.Descriptor{Digest: d, Size: 3}, func(err error) bool { return errors.As(err, new(*resolve.SizeError)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc, err := r.Blob(t.Context(), mustParse(t, addr+"/app:1"), tc.desc, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			if !tc.want(err) {
				t.Errorf("reading a wrong blob: %v, want a %s error", err, tc.name)
			}
		})
	}
}

func TestBlobRedirectToForbiddenAddressIsRefused(t *testing.T) {
	t.Parallel()
	d := digest.FromString("layer")
	elsewhere := fakeRegistry(t, map[string]string{"/blob": "layer"}, nil)
	addr := fakeRegistry(t, nil, map[string]string{"/v2/app/blobs/" + d.String(): "http://" + elsewhere + "/blob"})
	r := resolve.New(resolve.WithAllowRegistry(addr), resolve.WithInsecureRegistry(addr))
	_, err := r.Blob(t.Context(), mustParse(t, addr+"/app:1"), resolve.Descriptor{Digest: d}, nil)
	var e *resolve.Error
	if !errors.As(err, &e) || !errors.Is(err, resolve.ErrBlocked) || e.Refused != elsewhere {
		t.Fatalf("Blob redirected to %s = %v, want ErrBlocked refusing it", elsewhere, err)
	}

	// Allowed, the redirect is followed.
	r = resolve.New(resolve.WithAllowRegistry(addr, elsewhere), resolve.WithInsecureRegistry(addr, elsewhere))
	rc, err := r.Blob(t.Context(), mustParse(t, addr+"/app:1"), resolve.Descriptor{Digest: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "layer" {
		t.Errorf("redirected blob = %q, %v", b, err)
	}
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	subject := digest.FromString("subject")
	sbom := resolve.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest.FromString("sbom"), Size: 10, ArtifactType: "application/spdx+json"}
	sig := resolve.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest.FromString("sig"), Size: 11, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json"}
	index := func(ds ...resolve.Descriptor) string {
		b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ds})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name         string
		bodies       map[string]string
		artifactType string
		want         []resolve.Descriptor
	}{
		{name: "referrers API", bodies: map[string]string{"/v2/app/referrers/" + subject.String(): index(sbom, sig)}, want: []resolve.Descriptor{sbom, sig}},
		{name: "filtered", bodies: map[string]string{"/v2/app/referrers/" + subject.String(): index(sbom, sig)}, artifactType: sbom.ArtifactType, want: []resolve.Descriptor{sbom}},
		{name: "tag schema", bodies: map[string]string{"/v2/app/manifests/sha256-" + subject.Encoded(): index(sig)}, want: []resolve.Descriptor{sig}},
		{name: "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := fakeRegistry(t, tc.bodies, nil)
			r := resolve.New(resolve.WithAllowRegistry(addr), resolve.WithInsecureRegistry(addr))
			got, err := r.Referrers(t.Context(), mustParse(t, addr+"/app:1"), subject, tc.artifactType, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Referrers mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
