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
	s := &yamlScanner{p: p, c: content, workflow: isWorkflow(content), block: -1, next: -1}
	lines(content, start, s.line)
	s.endBlock()
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
	// blockImage is the block scalar that is an image's value, when
	// block is one.
	blockImage *blockValue
	// next is the column of an image key whose value may be on the next
	// line; -1 when the previous line did not end with one.
	next  int
	found []span
}

// blockValue is what a block scalar holding an image has shown so far.
type blockValue struct {
	line                         int // of the key
	indicatorStart, indicator    int // the | or > and its modifiers
	lines                        int // lines of text
	textLine, textStart, textEnd int // the first line of text
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
			if b := s.blockImage; b != nil {
				if b.lines++; b.lines == 1 {
					b.textLine, b.textStart, b.textEnd = n, p, trimBlankEnd(s.c, p, end)
				}
			}
			return
		}
		s.endBlock()
	}
	if next := s.next; next >= 0 {
		s.next = -1
		if col > next && s.nextLineValue(n, p, end) {
			return
		}
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
	entry := -1 // column of the last sequence entry's dash
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
			entry = p - lineStart
			p++ // a sequence entry or an explicit key
		case (b == '|' || b == '>') && entry >= 0 && s.depth == 0:
			// - | : a block scalar as a sequence entry (a script in a
			// command list): its lines are text.
			s.block = entry
			return
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
	image := key == "image" || key == "container" && s.workflow
	if p == end || c[p] == '#' {
		if image && s.depth == 0 {
			s.next = keyCol // the value may be on the next line
		}
		return p // or it is a block collection on the next lines
	}
	if c[p] == '|' || c[p] == '>' {
		s.block = keyCol
		if image {
			s.blockImage = &blockValue{line: n, indicatorStart: p, indicator: wordEnd(c, p, end)}
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

// endBlock ends a block scalar. One that is an image's value is a
// reference when it has one line of text, and is skipped otherwise.
func (s *yamlScanner) endBlock() {
	b := s.blockImage
	s.block, s.blockImage = -1, nil
	switch {
	case b == nil:
	case b.lines == 1:
		s.found = append(s.found, s.p.classify(s.c, b.textLine, b.textStart, b.textEnd, ""))
	default:
		s.found = append(s.found, s.p.classify(s.c, b.line, b.indicatorStart, b.indicator, "multi-line value; write the reference on one line to pin it"))
	}
}

// nextLineValue handles the line after an image key with nothing after
// its colon, indented beyond the key: a lone scalar there is the key's
// value. It reports whether the line was that.
func (s *yamlScanner) nextLineValue(n, p, end int) bool {
	c := s.c
	if c[p] == '-' && (p+1 == end || isBlank(c[p+1])) || c[p] == '[' || c[p] == '{' || c[p] == '?' || c[p] == '&' || c[p] == '!' || c[p] == '*' || c[p] == '|' || c[p] == '>' {
		return false // a collection, or a value this lexer does not follow
	}
	sc, ok := s.scalar(p, end)
	if !ok {
		return false
	}
	if rest := skipBlank(c, sc.next, end); rest < end && c[rest] != '#' {
		return false // a key, or more than a scalar
	}
	reason := ""
	if !sc.quoted && isNull(c[sc.start:sc.end]) {
		reason = "empty value"
	}
	s.found = append(s.found, s.p.classify(c, n, sc.start, sc.end, reason))
	return true
}

// trimBlankEnd returns end moved back over blanks, not before p.
func trimBlankEnd(c []byte, p, end int) int {
	for end > p && isBlank(c[end-1]) {
		end--
	}
	return end
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
