package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The OCI annotation keys the image carries as labels (and the index as
// annotations).
const (
	labelSource   = "org.opencontainers.image.source"
	labelRevision = "org.opencontainers.image.revision"
	labelVersion  = "org.opencontainers.image.version"
	labelCreated  = "org.opencontainers.image.created"
	labelTitle    = "org.opencontainers.image.title"
)

// buildIndex builds tagpin for every platform and returns the OCI image
// index of their images.
func buildIndex(ctx context.Context, opts options, src source, progress io.Writer) (v1.ImageIndex, error) {
	caBundle, err := os.ReadFile(opts.caBundle)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle (Debian's ca-certificates package installs %s): %w", defaultCABundle, err)
	}
	// The base layer is the same on every platform: one blob in a registry.
	base, err := newLayer(baseEntries(caBundle), src.epoch)
	if err != nil {
		return nil, fmt.Errorf("building the base layer: %w", err)
	}
	tmp, err := os.MkdirTemp("", "tagpin-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	labels := map[string]string{
		labelSource:   opts.source,
		labelRevision: src.revision,
		labelVersion:  src.version,
		labelCreated:  src.epoch.Format("2006-01-02T15:04:05Z"),
		labelTitle:    "tagpin",
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range opts.platforms {
		fmt.Fprintf(progress, "image: building tagpin for %s\n", p)
		bin, err := goBuild(ctx, opts, p, src.version, tmp)
		if err != nil {
			return nil, err
		}
		img, err := platformImage(p, base, bin, labels, src.epoch)
		if err != nil {
			return nil, fmt.Errorf("building the %s image: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: p.os, Architecture: p.arch},
			},
		})
	}
	return mutate.Annotations(idx, labels).(v1.ImageIndex), nil
}

// platformImage is the image of one platform: the base layer, then the
// binary's.
func platformImage(p platform, base v1.Layer, binPath string, labels map[string]string, epoch time.Time) (v1.Image, error) {
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, err
	}
	binLayer, err := newLayer(binaryEntries(bin), epoch)
	if err != nil {
		return nil, fmt.Errorf("building the binary's layer: %w", err)
	}
	created := v1.Time{Time: epoch}
	cfg := &v1.ConfigFile{
		Architecture: p.arch,
		OS:           p.os,
		Created:      created,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{binaryPath},
			User:       fmt.Sprint(nonrootID),
			WorkingDir: nonrootHome,
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			Labels:     labels,
		},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created:   created,
			CreatedBy: "hack/image: /etc (passwd, group, nsswitch.conf, CA bundle), /root, " + nonrootHome + ", /tmp",
			Comment:   "base",
		}},
		mutate.Addendum{Layer: binLayer, History: v1.History{
			Created:   created,
			CreatedBy: "hack/image: go build -trimpath ./cmd/tagpin (CGO_ENABLED=0) -> " + binaryPath,
			Comment:   "tagpin",
		}},
	)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}
