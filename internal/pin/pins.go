package pin

import (
	"bytes"
	"strings"
)

// scanPins finds name:tag@sha256:<64 hex> pins anywhere in text, so that
// pins in shell scripts, Makefiles, Terraform or Markdown can be refreshed.
//
// A pin must stand on its own: it starts after a byte that cannot be part
// of a reference (a quote, a space, =, …) and its token ends with the
// digest (a full stop or colon after it is punctuation). A pin right after
// a template or variable ($REG/app:1@…, {{ .registry }}/app:1@…,
// <registry>/app:1@…) is the tail of a reference that cannot be resolved
// as written, and is ignored, as is text that is not a valid reference.
func scanPins(content []byte, p *refParser) []span {
	const (
		marker = "@sha256:"
		hexLen = 64
	)
	var found []span
	line, lineAt := 1, 0 // line number of offset lineAt
	for i := 0; ; {
		j := bytes.Index(content[i:], []byte(marker))
		if j < 0 {
			return found
		}
		at := i + j
		end := at + len(marker) + hexLen
		i = at + len(marker)
		if end > len(content) || !isLowerHex(content[at+len(marker):end]) || continuesToken(content[end:]) {
			continue
		}
		start := at
		for start > 0 && isReferenceByte(content[start-1]) {
			start--
		}
		if k := bytes.LastIndex(content[start:at], []byte("://")); k >= 0 {
			start += k + len("://") // docker://alpine:3@sha256:…
		}
		if start == at || !isAlphanumeric(content[start]) || start > 0 && endsTemplate(content[start-1]) {
			continue
		}
		ref, err := p.parse(content[start:end])
		if err != nil || !ref.TagWritten {
			continue
		}
		line += bytes.Count(content[lineAt:start], []byte("\n"))
		lineAt = start
		found = append(found, span{line: line, start: start, end: end, kind: Pinned})
		i = end
	}
}

// continuesToken reports whether rest, the text after a digest, carries
// on the same token rather than ending it: a letter, digit or one of
// _-/@, or a . or : that is followed by one (a full stop ends a token).
func continuesToken(rest []byte) bool {
	if len(rest) == 0 {
		return false
	}
	switch c := rest[0]; {
	case isWordByte(c), c == '-', c == '/', c == '@':
		return true
	case c == '.', c == ':':
		return len(rest) > 1 && isWordByte(rest[1])
	}
	return false
}

// endsTemplate reports whether c, right before a reference, shows that
// the reference really starts earlier, in a template or variable.
func endsTemplate(c byte) bool { return strings.IndexByte(`$})>%@\`, c) >= 0 }

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isAlphanumeric(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isWordByte(c byte) bool { return isAlphanumeric(c) || c == '_' }

// isReferenceByte reports whether c may appear in the name or tag of a
// reference.
func isReferenceByte(c byte) bool {
	return isWordByte(c) || c == '.' || c == '-' || c == '/' || c == ':'
}
