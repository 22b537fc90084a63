package pin

import (
	"bytes"
	"strings"
)

// scanStepNames finds the images of build steps written as name: (Cloud
// Build and similar CI configurations) in the items of a steps: list:
//
//	steps:
//	- name: 'gcr.io/cloud-builders/docker'
//	  args: ['build', '.']
//
// Only a name: whose value starts with a registry host (a first
// component with a dot or a port, or localhost) is an image, and only in
// a step without image:, uses: or run: keys: there (Tekton, GitHub
// Actions) a step's name is a title.
func scanStepNames(content []byte, start int, p *refParser) []span {
	if !bytes.Contains(content, []byte("steps:")) {
		return nil
	}
	var found []span
	walkBlockMaps(content, start, func(m *blockMap) {
		if !m.item || m.parent != "steps" || m.get("image") != nil || m.get("uses") != nil || m.get("run") != nil {
			return
		}
		name := m.get("name")
		if name == nil || !name.scalar || !hasRegistryHost(string(content[name.value.start:name.value.end])) {
			return
		}
		found = append(found, p.classify(content, name.line, name.value.start, name.value.end, ""))
	})
	return found
}

// hasRegistryHost reports whether text starts with a registry host and
// a slash: a first component with a dot or a colon, or localhost.
func hasRegistryHost(text string) bool {
	host, rest, ok := strings.Cut(text, "/")
	if !ok || host == "" || rest == "" {
		return false
	}
	return strings.ContainsAny(host, ".:") || host == "localhost"
}
