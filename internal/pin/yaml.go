package pin

import (
	"bytes"
)

// isWorkflow reports whether content has the top-level jobs: key of a
// GitHub Actions workflow (a line that is "jobs:", perhaps with a
// comment), the one kind of file where container: may hold an image.
func isWorkflow(content []byte) bool {
	key := []byte("jobs:")
	for i := 0; ; {
		j := bytes.Index(content[i:], key)
		if j < 0 {
			return false
		}
		at := i + j
		i = at + len(key)
		if at > 0 && content[at-1] != '\n' {
			continue
		}
		rest := content[i:]
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			rest = rest[:k]
		}
		rest = bytes.TrimLeft(rest, " \t\r")
		if len(rest) == 0 || rest[0] == '#' {
			return true
		}
	}
}

// scanYAML finds the values of image: keys (and, in GitHub Actions
// workflows, container: and uses: docker://) in YAML or JSON text.
//
// It is a line-oriented lexer rather than a parser: it reports exact byte
// spans, copes with templates that are not valid YAML, and tracks just
// enough state (flow collections across lines, block scalars) to tell keys
// from text.
func scanYAML(content []byte, start int, p *refParser) []span {
	s := &yamlScanner{p: p, c: content, workflow: isWorkflow(content), block: -1}
	lines(content, start, s.line)
	return s.found
}

type yamlScanner struct {
	p        *refParser
	c        []byte
	workflow bool // container: names an image
	// depth is the nesting of flow collections ({…}, […]) at the end of
	// the previous line.
	depth int
	// block is the column of the key that opened a block scalar (|, >):
	// lines indented beyond it are text. -1 outside block scalars.
	block int
	found []span
}

func (s *yamlScanner) line(n, start, end int) {
	p := skipBlank(s.c, start, end)
	if p == end || s.c[p] == '#' {
		return
	}
	col := p - start
	if s.block >= 0 {
		if col > s.block {
			// Text of a block scalar: a script, a message, an embedded
			// file. "image: x" there is prose or shell, not a key (pins
			// in it are still found, as in any text).
			return
		}
		s.block = -1
	}
	if col == 0 {
		if isDocumentMarker(s.c[start:end]) {
			s.depth = 0
			return
		}
		if b := s.c[p]; b != '}' && b != ']' && b != ',' {
			// A new top-level node: whatever was left open was not YAML.
			s.depth = 0
		}
	}
	s.tokens(n, start, p, end)
}

// tokens lexes content[p:end], a line (or the rest of one) starting at
// lineStart, and records the values of image keys.
func (s *yamlScanner) tokens(n, lineStart, p, end int) {
	c := s.c
	for p < end {
		switch b := c[p]; {
		case isBlank(b), b == ',':
			p++
		case b == '#':
			return
		case b == '{' && !isTemplate(c[p:end]), b == '[':
			s.depth++
			p++
		case b == '}', b == ']':
			s.depth = max(s.depth-1, 0)
			p++
		case (b == '-' || b == '?') && (p+1 == end || isBlank(c[p+1])):
			p++ // a sequence entry or an explicit key
		default:
			sc, ok := s.scalar(p, end)
			if !ok {
				return // an unterminated quote: the rest of the line is in it
			}
			next := skipBlank(c, sc.next, end)
			if next < end && c[next] == ':' && (sc.quoted || next+1 == end || isBlank(c[next+1]) || s.depth > 0 && isFlowIndicator(c[next+1])) {
				next = s.value(n, string(c[sc.start:sc.end]), p-lineStart, next+1, end)
			}
			p = max(next, p+1)
		}
	}
}

// value handles what follows "key:" at p and returns where lexing goes on.
func (s *yamlScanner) value(n int, key string, keyCol, p, end int) int {
	c := s.c
	p = skipBlank(c, p, end)
	if p == end {
		return p // the value is a block collection on the next lines
	}
	image := key == "image" || key == "container" && s.workflow
	if c[p] == '|' || c[p] == '>' {
		s.block = keyCol
		if image {
			s.found = append(s.found, s.p.classify(c, n, p, wordEnd(c, p, end), "multi-line value; write the reference on the line of its key to pin it"))
		}
		return end
	}
	if !image && key != "uses" {
		return p
	}
	for p < end && (c[p] == '&' || c[p] == '!') {
		// An anchor or a tag: the value follows it.
		p = skipBlank(c, wordEnd(c, p, end), end)
	}
	if p == end || c[p] == '*' || c[p] == '#' || c[p] == '[' || c[p] == '{' && !isTemplate(c[p:end]) {
		// Nothing, an alias or a collection (whose own image: keys are
		// found as the lexer goes on).
		return p
	}
	sc, ok := s.scalar(p, end)
	if !ok {
		return end
	}
	start := sc.start
	if scheme := []byte("docker://"); bytes.HasPrefix(c[start:sc.end], scheme) {
		start += len(scheme)
	} else if key == "uses" {
		return sc.next // an action, not an image
	}
	reason := ""
	if !sc.quoted && isNull(c[start:sc.end]) {
		reason = "empty value"
	}
	s.found = append(s.found, s.p.classify(c, n, start, sc.end, reason))
	return sc.next
}

// scalarSpan is a scalar's text (quotes excluded) and the offset after it.
type scalarSpan struct {
	start, end, next int
	quoted           bool
}

// scalar lexes the quoted or plain scalar at p. ok is false for a quote
// that does not end on this line.
func (s *yamlScanner) scalar(p, end int) (span scalarSpan, ok bool) {
	c := s.c
	if q := c[p]; q == '"' || q == '\'' {
		for i := p + 1; i < end; i++ {
			switch {
			case q == '"' && c[i] == '\\':
				i++
			case c[i] == q && q == '\'' && i+1 < end && c[i+1] == '\'':
				i++ // '' is an escaped quote
			case c[i] == q:
				return scalarSpan{start: p + 1, end: i, next: i + 1, quoted: true}, true
			}
		}
		return scalarSpan{}, false
	}
	next := s.plainEnd(p, end)
	e := next
	for e > p && isBlank(c[e-1]) {
		e--
	}
	return scalarSpan{start: p, end: e, next: next}, true
}

// plainEnd returns where the plain scalar starting at p ends: before
// ": ", " #", a flow indicator inside a flow collection, or the end of
// the line. Template expressions ({{ … }}, ${ … }) are taken whole.
func (s *yamlScanner) plainEnd(p, end int) int {
	c := s.c
	for i := p; i < end; {
		switch b := c[i]; {
		case isTemplate(c[i:end]):
			i = closing(c, i+2, end, "}}")
		case b == '$' && i+1 < end && c[i+1] == '{':
			if isTemplate(c[i+1 : end]) {
				i = closing(c, i+3, end, "}}")
			} else {
				i = closing(c, i+2, end, "}")
			}
		case b == ':' && (i+1 == end || isBlank(c[i+1]) || s.depth > 0 && isFlowIndicator(c[i+1])):
			return i
		case b == '#' && i > p && isBlank(c[i-1]):
			return i
		case s.depth > 0 && isFlowIndicator(b):
			return i
		default:
			i++
		}
	}
	return end
}

// closing returns the offset after the first marker in c[from:end], or
// end when there is none.
func closing(c []byte, from, end int, marker string) int {
	if from >= end {
		return end
	}
	if i := bytes.Index(c[from:end], []byte(marker)); i >= 0 {
		return from + i + len(marker)
	}
	return end
}

func isTemplate(b []byte) bool { return bytes.HasPrefix(b, []byte("{{")) }

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

func isFlowIndicator(b byte) bool {
	return b == ',' || b == '[' || b == ']' || b == '{' || b == '}'
}

// wordEnd returns the offset of the first blank at or after p, or end.
func wordEnd(c []byte, p, end int) int {
	for p < end && !isBlank(c[p]) {
		p++
	}
	return p
}

func skipBlank(c []byte, p, end int) int {
	for p < end && isBlank(c[p]) {
		p++
	}
	return p
}

func isNull(v []byte) bool {
	switch string(v) {
	case "~", "null", "Null", "NULL":
		return true
	}
	return false
}

func isDocumentMarker(line []byte) bool {
	for _, m := range []string{"---", "..."} {
		if rest, ok := bytes.CutPrefix(line, []byte(m)); ok && (len(rest) == 0 || isBlank(rest[0])) {
			return true
		}
	}
	return false
}
