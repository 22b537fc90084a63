package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// refNameAnnotation names an image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// writeLayout adds idx to the OCI image layout in dir (created when
// missing) once per tag, replacing what held that tag, and returns one
// line per tag: oci:DIR:TAG@DIGEST.
func writeLayout(dir string, idx v1.ImageIndex, tags []string) ([]string, error) {
	p, err := openLayout(dir)
	if err != nil {
		return nil, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, len(tags))
	for _, tag := range tags {
		err := p.ReplaceIndex(idx, match.Annotation(refNameAnnotation, tag),
			layout.WithAnnotations(map[string]string{refNameAnnotation: tag}))
		if err != nil {
			return nil, fmt.Errorf("writing the image into the OCI layout %s: %w", dir, err)
		}
		lines = append(lines, fmt.Sprintf("oci:%s:%s@%s", dir, tag, digest))
	}
	return lines, nil
}

// openLayout opens the OCI layout in dir, or creates an empty one.
func openLayout(dir string) (layout.Path, error) {
	_, err := os.Stat(filepath.Join(dir, "index.json"))
	switch {
	case err == nil:
		p, err := layout.FromPath(dir)
		if err != nil {
			return "", fmt.Errorf("opening the OCI layout %s: %w", dir, err)
		}
		return p, nil
	case errors.Is(err, fs.ErrNotExist):
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			return "", fmt.Errorf("creating the OCI layout %s: %w", dir, err)
		}
		return p, nil
	default:
		return "", fmt.Errorf("opening the OCI layout %s: %w", dir, err)
	}
}

// push writes idx to repo under every tag and returns one line per tag:
// REPO:TAG@DIGEST. Credentials come from the Docker config
// (~/.docker/config.json, DOCKER_CONFIG); loopback registries and
// insecure ones are spoken to over plain HTTP.
func push(ctx context.Context, repo string, insecure bool, idx v1.ImageIndex, tags []string) ([]string, error) {
	var nameOpts []name.Option
	if insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.NewRepository(repo, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("image repository %q: %w", repo, err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	remoteOpts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	lines := make([]string, 0, len(tags))
	for i, tag := range tags {
		ref := r.Tag(tag)
		if i == 0 {
			err = remote.WriteIndex(ref, idx, remoteOpts...)
		} else {
			err = remote.Tag(ref, idx, remoteOpts...)
		}
		if err != nil {
			return nil, fmt.Errorf("pushing %s: %w", ref, err)
		}
		lines = append(lines, fmt.Sprintf("%s@%s", ref, digest))
	}
	return lines, nil
}
