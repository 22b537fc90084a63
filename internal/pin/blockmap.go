package pin

// blockEntry is one "key: value" line of a YAML block mapping.
type blockEntry struct {
	key  string
	line int
	// keyStart is the offset of the key, colon the offset of the colon
	// after it.
	keyStart, colon int
	// lineStart and lineEnd bound the entry's line without its line
	// ending; eol is that line ending ("" on the last line).
	lineStart, lineEnd int
	eol                string
	// value is the scalar on the key's line; valid when scalar is true.
	value  scalarSpan
	scalar bool
	// empty reports nothing after the colon (but a comment): a nested
	// collection or a null.
	empty bool
}

// blockMap is a YAML block mapping: its entries, and the key whose
// value it is (or whose block sequence it is an item of).
type blockMap struct {
	parent string
	item   bool
	// indent is the column of its keys, depth the number of mappings
	// around it (0 for the top level of a document).
	indent, depth int
	entries       []blockEntry
}

// get returns the entry of key, or nil.
func (m *blockMap) get(key string) *blockEntry {
	for i := range m.entries {
		if m.entries[i].key == key {
			return &m.entries[i]
		}
	}
	return nil
}

// walkBlockMaps calls fn for every block mapping of the YAML text in
// content from offset start, once the mapping has ended, with the
// scalar entries written on their keys' lines. Like scanYAML it is a
// line-oriented lexer, not a parser: block scalars and flow collections
// spanning lines are passed over, and text that is not YAML yields what
// looks like mappings, never an error.
func walkBlockMaps(content []byte, start int, fn func(*blockMap)) {
	w := &blockWalker{c: content, fn: fn, block: -1, lex: yamlScanner{c: content}}
	lines(content, start, w.line)
	w.closeAbove(-1)
}

type blockWalker struct {
	c   []byte
	fn  func(*blockMap)
	lex yamlScanner // lexes scalars
	// stack holds the open mappings, innermost last.
	stack []*blockMap
	// block is the column of the key that opened a block scalar: lines
	// indented beyond it are its text. -1 outside block scalars.
	block int
	// flow is the nesting of a flow collection still open at the end of
	// the previous line.
	flow int
}

// closeAbove ends the mappings indented beyond col.
func (w *blockWalker) closeAbove(col int) {
	for len(w.stack) > 0 && w.stack[len(w.stack)-1].indent > col {
		m := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.fn(m)
	}
}

// open starts a mapping whose keys are at column col.
func (w *blockWalker) open(col int, item bool) *blockMap {
	m := &blockMap{indent: col, item: item, depth: len(w.stack)}
	if n := len(w.stack); n > 0 {
		if top := w.stack[n-1]; len(top.entries) > 0 && top.entries[len(top.entries)-1].empty {
			m.parent = top.entries[len(top.entries)-1].key
		}
	}
	w.stack = append(w.stack, m)
	return m
}

func (w *blockWalker) line(n, start, end int) {
	c := w.c
	p := skipBlank(c, start, end)
	if p == end || c[p] == '#' {
		return
	}
	col := p - start
	if w.block >= 0 {
		if col > w.block {
			return
		}
		w.block = -1
	}
	if w.flow > 0 {
		w.flow = flowDepth(c, p, end, w.flow)
		return
	}
	if col == 0 && isDocumentMarker(c[start:end]) {
		w.closeAbove(-1)
		return
	}
	item := false
	if c[p] == '-' && (p+1 == end || isBlank(c[p+1])) {
		// A sequence item: it ends the mappings indented beyond its dash.
		w.closeAbove(col)
		item = true
		dash := col
		p = skipBlank(c, p+1, end)
		if p == end || c[p] == '#' || c[p] == '-' && (p+1 == end || isBlank(c[p+1])) {
			return // an item on the next lines, or a nested sequence
		}
		if c[p] == '|' || c[p] == '>' {
			w.block = dash // - | : the item is a block scalar
			return
		}
		col = p - start
	}
	if c[p] == '[' || c[p] == '{' && !isTemplate(c[p:end]) {
		w.closeAbove(col)
		w.flow = flowDepth(c, p, end, 0)
		return
	}
	key, ok := w.lex.scalar(p, end)
	if !ok {
		return
	}
	colon := skipBlank(c, key.next, end)
	if colon == end || c[colon] != ':' || colon+1 < end && !isBlank(c[colon+1]) {
		return // a scalar, or a plain scalar going on from the line before
	}
	w.closeAbove(col)
	var m *blockMap
	if top := len(w.stack) - 1; !item && top >= 0 && w.stack[top].indent == col {
		m = w.stack[top]
	} else {
		m = w.open(col, item)
	}
	e := blockEntry{
		key: string(c[key.start:key.end]), line: n, keyStart: p, colon: colon,
		lineStart: start, lineEnd: end, eol: lineEnding(c, end),
	}
	v := skipBlank(c, colon+1, end)
	for v < end && (c[v] == '&' || c[v] == '!') {
		// An anchor or a tag: the value follows it.
		v = skipBlank(c, wordEnd(c, v, end), end)
	}
	switch {
	case v == end || c[v] == '#':
		e.empty = true
	case c[v] == '|' || c[v] == '>':
		w.block = col
	case c[v] == '[' || c[v] == '{' && !isTemplate(c[v:end]):
		w.flow = flowDepth(c, v, end, 0)
	case c[v] == '*':
		// An alias: not a scalar written here.
	default:
		if sc, ok := w.lex.scalar(v, end); ok {
			e.value, e.scalar = sc, true
		}
	}
	m.entries = append(m.entries, e)
}

// lineEnding returns the line ending at offset end of a line: "\r\n",
// "\n" or "" (the last line).
func lineEnding(c []byte, end int) string {
	switch {
	case end < len(c) && c[end] == '\r':
		return "\r\n"
	case end < len(c):
		return "\n"
	}
	return ""
}

// flowDepth returns the nesting of flow collections after c[p:end],
// starting at depth; quoted text is passed over.
func flowDepth(c []byte, p, end, depth int) int {
	for i := p; i < end; i++ {
		switch c[i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth = max(depth-1, 0)
		case '"', '\'':
			q := c[i]
			for i++; i < end && c[i] != q; i++ {
				if q == '"' && c[i] == '\\' {
					i++
				}
			}
		case '#':
			if i > p && isBlank(c[i-1]) {
				return depth
			}
		}
	}
	return depth
}
