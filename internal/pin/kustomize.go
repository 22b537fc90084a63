package pin

import (
	"bytes"
	"cmp"
	"path/filepath"
	"strings"
)

// isKustomizationName reports whether filename is one kustomize reads:
// kustomization.yaml, kustomization.yml or Kustomization.
func isKustomizationName(filename string) bool {
	switch filepath.Base(filename) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

// scanKustomization finds the references of the entries of a
// kustomization's top-level images: list:
//
//	images:
//	- name: nginx
//	  newName: registry.example.com/nginx
//	  newTag: "1.27"
//	  digest: sha256:…
//
// kustomize renders such an entry as newName:newTag@digest (name when
// there is no newName), so the entry is pinned by adding a digest: key
// after newTag (or refreshing the digest that is there); newTag stays.
// An entry without newTag takes the tag of each image it matches in
// the resources, which this file does not say: it is reported as
// skipped. An entry with a digest but no newTag renders name@digest:
// it is digest-only.
func scanKustomization(content []byte, start int, p *refParser) []span {
	var found []span
	walkBlockMaps(content, start, func(m *blockMap) {
		if m.item && m.depth == 1 && m.parent == "images" {
			if s, ok := kustomizeImage(content, m, p); ok {
				found = append(found, s)
			}
		}
	})
	return found
}

// kustomizeImage returns the span of one images: entry.
func kustomizeImage(c []byte, m *blockMap, p *refParser) (span, bool) {
	name := m.get("newName")
	if name == nil || !name.scalar {
		name = m.get("name")
	}
	if name == nil || !name.scalar {
		return span{}, false // not an entry kustomize can use
	}
	nameText := string(c[name.value.start:name.value.end])
	tag, dig := m.get("newTag"), m.get("digest")
	if dig != nil && !dig.scalar && !dig.empty {
		dig = nil
	}
	hasDigest := dig != nil && dig.scalar && !isNull(c[dig.value.start:dig.value.end]) && dig.value.end > dig.value.start
	if tag == nil || !tag.scalar {
		at := name.value
		s := span{line: name.line, start: at.start, end: at.end}
		if hasDigest {
			// name@digest: nothing to refresh it from.
			s = span{line: dig.line, start: dig.value.start, end: dig.value.end, ref: nameText + "@" + string(c[dig.value.start:dig.value.end])}
			return p.classifySpan(c, s, ""), true
		}
		if dig != nil || m.get("newName") != nil {
			s.kind, s.reason = Skipped, "kustomize images entry without newTag: the tag comes from the resources it matches; add newTag to pin it"
			return s, true
		}
		return span{}, false // an entry that only renames, or nothing at all
	}
	tagText := string(c[tag.value.start:tag.value.end])
	ref := nameText + ":" + tagText
	reason := cmp.Or(templateReason(nameText), templateReason(tagText))
	if reason == "" && strings.ContainsAny(tagText, "@:/") {
		reason = "kustomize images entry whose newTag is not a tag"
	}
	var s span
	switch {
	case hasDigest:
		s = span{line: dig.line, start: dig.value.start, end: dig.value.end, ref: ref + "@" + string(c[dig.value.start:dig.value.end])}
	case dig != nil && dig.scalar:
		// digest: "" or digest: null: the digest takes the value's place.
		s = span{line: dig.line, start: dig.value.start, end: dig.value.end, ref: ref}
	case dig != nil:
		// digest: with nothing after it.
		s = span{line: dig.line, start: dig.colon + 1, end: dig.colon + 1, ref: ref, before: " "}
	default:
		// A digest: line after newTag's, indented like it, with its
		// line ending.
		s = insertAfter(c, tag, ref)
	}
	if reason == "" && tag.value.quoted && bytes.IndexByte(c[tag.value.start:tag.value.end], '\\') >= 0 {
		reason = "kustomize images entry with an escape in newTag"
	}
	return p.classifySpan(c, s, reason), true
}

// fileLineEnding returns the line ending of the first line of c, "\n"
// when it has none.
func fileLineEnding(c []byte) string {
	if i := bytes.IndexByte(c, '\n'); i > 0 && c[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}
