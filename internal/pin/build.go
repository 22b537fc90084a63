package pin

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tagpin/tagpin/internal/imageref"
)

// Reasons for references to images the repository builds itself: they
// name no image in a registry until a build tool pushes one, and that
// tool replaces them.
const (
	reasonKo       = "built here by ko (ko://import/path), not an image in a registry"
	reasonSkaffold = "built here: an artifact of this Skaffold config, not an image in a registry"
)

// isSkaffold reports whether content is a Skaffold config.
func isSkaffold(content []byte) bool {
	return bytes.Contains(content, []byte("apiVersion: skaffold/"))
}

// skaffoldArtifacts returns the repositories (normalized domain/path) of
// the images of build.artifacts in a Skaffold config.
func skaffoldArtifacts(content []byte, start int, p *refParser) map[string]bool {
	names := map[string]bool{}
	walkBlockMaps(content, start, func(m *blockMap) {
		if !m.item || m.parent != "artifacts" {
			return
		}
		if e := m.get("image"); e != nil && e.scalar {
			if ref, err := p.parse(content[e.value.start:e.value.end]); err == nil {
				names[ref.Repository()] = true
			}
		}
	})
	return names
}

// markBuilt marks the references of found whose repository is one of
// built as skipped, built here.
func markBuilt(content []byte, found []span, built map[string]bool, p *refParser, reason string) {
	if len(built) == 0 {
		return
	}
	for i, s := range found {
		if s.kind == Skipped {
			continue
		}
		if ref, err := p.parse(s.text(content)); err == nil && built[ref.Repository()] {
			found[i].kind, found[i].reason = Skipped, reason
		}
	}
}

// isTiltfile reports whether filename is a Tiltfile.
func isTiltfile(filename string) bool {
	base := filepath.Base(filename)
	return base == "Tiltfile" || strings.HasSuffix(base, ".Tiltfile") || strings.HasPrefix(base, "Tiltfile.")
}

// tiltBuild matches the image name of a Tilt build: docker_build('app',
// …), custom_build(ref="app", …), docker_build_with_restart('app', …).
var tiltBuild = regexp.MustCompile(`(?m)^[^#\n]*?\b(?:docker_build|custom_build|docker_build_with_restart)\(\s*(?:ref\s*=\s*)?["']([^"'\n]+)["']`)

// declaredBuilds returns the repositories (normalized domain/path) of the
// images that the build configuration in content declares the
// repository builds itself: Skaffold artifacts and Tilt builds.
func declaredBuilds(filename string, content []byte, p *refParser) map[string]bool {
	switch {
	case isTiltfile(filename):
		names := map[string]bool{}
		for _, m := range tiltBuild.FindAllSubmatch(content, -1) {
			if ref, err := p.parse(m[1]); err == nil {
				names[ref.Repository()] = true
			}
		}
		return names
	case isYAMLName(filename) && isSkaffold(content):
		return skaffoldArtifacts(content, 0, p)
	}
	return nil
}

// builtHere reports whether ref names an image the walked files declare
// the repository builds.
func (r *run) builtHere(ref imageref.Reference) (where string, ok bool) {
	where, ok = r.built[ref.Repository()]
	return where, ok
}
