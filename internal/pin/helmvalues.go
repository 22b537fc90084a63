package pin

import (
	"bytes"
	"cmp"
	"strings"
)

// reasonNoDigestKey is why a Helm values image map without a digest key
// is only reported, unless digest keys are to be added.
const reasonNoDigestKey = "Helm values image map without a digest key; charts differ in whether they read one, so none was added"

// scanHelmValues finds the references of Helm values image maps: block
// mappings with repository and tag keys (and perhaps registry and
// digest) that are the value of a key ending in image or Image
// (image:, initImage:, sidecar: image:):
//
//	image:
//	  registry: docker.io
//	  repository: bitnami/nginx
//	  tag: 1.27.3-debian-12-r0
//	  digest: ""
//
// The reference is [registry/]repository:tag. A map with a digest key
// is pinned there (the digest filled in or refreshed); a map without
// one gets a digest: line after tag when addDigest is set and is
// reported as skipped otherwise, since a chart that does not read the
// key would silently ignore it.
func scanHelmValues(content []byte, start int, p *refParser, addDigest bool) []span {
	if !bytes.Contains(content, []byte("repository")) {
		return nil
	}
	var found []span
	walkBlockMaps(content, start, func(m *blockMap) {
		if m.item || !strings.HasSuffix(m.parent, "image") && !strings.HasSuffix(m.parent, "Image") {
			return
		}
		if s, ok := helmImage(content, m, p, addDigest); ok {
			found = append(found, s)
		}
	})
	return found
}

// helmImage returns the span of one Helm values image map.
func helmImage(c []byte, m *blockMap, p *refParser, addDigest bool) (span, bool) {
	repo, tag := m.get("repository"), m.get("tag")
	if repo == nil || tag == nil || !repo.scalar || !tag.scalar && !tag.empty {
		return span{}, false // not an image map, or not one written out here
	}
	value := func(e *blockEntry) string {
		if e == nil || !e.scalar || isNull(c[e.value.start:e.value.end]) {
			return ""
		}
		return string(c[e.value.start:e.value.end])
	}
	name := value(repo)
	reason := templateReason(name)
	if registry := value(m.get("registry")); registry != "" {
		name = registry + "/" + name
		reason = cmp.Or(reason, templateReason(registry))
	}
	tagText := value(tag)
	ref := name + ":" + tagText
	if tagText == "" {
		ref = name
	}
	if reason == "" && tagText == "" {
		reason = "Helm values image map with an empty tag: the chart decides the tag (often its appVersion)"
	}
	reason = cmp.Or(reason, templateReason(tagText))
	for _, e := range []*blockEntry{repo, tag, m.get("registry")} {
		if reason == "" && e != nil && e.scalar && e.value.quoted && bytes.IndexByte(c[e.value.start:e.value.end], '\\') >= 0 {
			reason = "Helm values image map with an escape in a quoted value"
		}
	}
	if reason == "" && strings.ContainsAny(tagText, "@:/") {
		reason = "Helm values image map whose tag is not a tag"
	}
	dig := m.get("digest")
	if dig != nil && !dig.scalar && !dig.empty {
		dig = nil // a collection: not a digest
	}
	var s span
	switch {
	case dig != nil && dig.scalar && value(dig) != "":
		s = span{line: dig.line, start: dig.value.start, end: dig.value.end, ref: ref + "@" + value(dig)}
	case dig != nil && dig.scalar:
		// digest: "" or digest: null: the digest takes the value's place.
		s = span{line: dig.line, start: dig.value.start, end: dig.value.end, ref: ref}
	case dig != nil:
		// digest: with nothing after it.
		s = span{line: dig.line, start: dig.colon + 1, end: dig.colon + 1, ref: ref, before: " "}
	case tag.empty:
		s = span{line: tag.line, start: tag.colon + 1, end: tag.colon + 1, ref: ref}
	default:
		s = insertAfter(c, tag, ref)
		if reason == "" && !addDigest {
			// Reported, not pinned: the span is the tag's, so that
			// nothing is written.
			s = span{line: tag.line, start: tag.value.start, end: tag.value.end, ref: ref, kind: Skipped, reason: reasonNoDigestKey}
			return s, true
		}
	}
	return p.classifySpan(c, s, reason), true
}

// insertAfter returns the empty span at the end of e's line where a
// digest: key for ref is inserted, on a line of its own indented like e.
func insertAfter(c []byte, e *blockEntry, ref string) span {
	eol := e.eol
	if eol == "" {
		eol = fileLineEnding(c)
	}
	// The key's indentation as written (a sequence dash becomes a space).
	indent := []byte(string(c[e.lineStart:e.keyStart]))
	for i, b := range indent {
		if !isBlank(b) {
			indent[i] = ' '
		}
	}
	return span{line: e.line, start: e.lineEnd, end: e.lineEnd, ref: ref, before: eol + string(indent) + "digest: "}
}
