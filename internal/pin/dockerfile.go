package pin

import (
	"regexp"
	"strings"
)

// scanDockerfile finds the images of a Dockerfile:
//
//	ARG BASE=alpine:3.20          the default of a build argument used as FROM's image
//	FROM [--platform=…] image [AS name]
//	COPY --from=image:tag …       an image, not an earlier stage
//
// An instruction may continue over lines ending in a backslash (or the
// character of an escape parser directive); comment and empty lines
// between them do not end it. Stage names defined by an
// earlier AS and scratch are not images. FROM $BASE or FROM ${BASE}
// names the default of an ARG declared before the first FROM: that
// default is the reference (and is pinned where the ARG is); any other
// use of a build argument is skipped as templated.
func scanDockerfile(content []byte, start int, parser *refParser) []span {
	d := &dockerfile{c: content, p: parser, stages: map[string]bool{"scratch": true}, args: map[string]argDefault{}}
	var (
		words      []dockerWord
		escape     = byte('\\')
		directives = true // parser directives come first
	)
	lines(content, start, func(n, start, end int) {
		p := skipBlank(content, start, end)
		if directives {
			if e, ok := escapeDirective(content[p:end]); ok {
				escape = e
				return
			}
			directives = p < end && content[p] == '#' && isDirective(content[p:end])
		}
		if p == end || content[p] == '#' {
			return // comments and empty lines do not end a continuation
		}
		continued := false
		for _, w := range fields(content, p, end) {
			continued = false
			if w.end > w.start && content[w.end-1] == escape {
				continued = true
				if w.end--; w.end == w.start {
					continue // a lone backslash
				}
			}
			words = append(words, dockerWord{word: w, line: n})
		}
		if !continued {
			d.instruction(words)
			words = words[:0]
		}
	})
	d.instruction(words)
	return d.found
}

// escapeDirective returns the character of a "# escape=`" parser
// directive line.
func escapeDirective(line []byte) (byte, bool) {
	m := escapeLine.FindSubmatch(line)
	if m == nil {
		return 0, false
	}
	return m[1][0], true
}

var (
	escapeLine    = regexp.MustCompile(`(?i)^#[ \t]*escape[ \t]*=[ \t]*([\\` + "`" + `])[ \t]*$`)
	directiveLine = regexp.MustCompile(`(?i)^#[ \t]*[a-z]+[ \t]*=`)
)

// isDirective reports whether line is a parser directive (# name=value):
// directives may only come before any other line.
func isDirective(line []byte) bool { return directiveLine.Match(line) }

// dockerfile is the state of a scan of a Dockerfile.
type dockerfile struct {
	c      []byte
	p      *refParser
	found  []span
	stages map[string]bool // lower-case stage names, and scratch
	// args are the ARGs declared before the first FROM, by name.
	args     map[string]argDefault
	fromSeen bool
}

// argDefault is the default value of a global ARG.
type argDefault struct {
	line, start, end int
	has              bool // a default is written
	used             bool // reported already
}

// dockerWord is a word of an instruction and its line.
type dockerWord struct {
	word
	line int
}

func (d *dockerfile) text(w dockerWord) string { return w.text(d.c) }

// instruction handles one instruction, its words gathered from its lines.
func (d *dockerfile) instruction(words []dockerWord) {
	if len(words) == 0 {
		return
	}
	switch strings.ToUpper(d.text(words[0])) {
	case "ARG":
		if !d.fromSeen {
			for _, w := range words[1:] {
				d.arg(w)
			}
		}
	case "FROM":
		d.fromSeen = true
		d.from(words[1:])
	case "COPY":
		d.copyFrom(words[1:])
	}
}

// arg records NAME[=default] of a global ARG.
func (d *dockerfile) arg(w dockerWord) {
	text := d.text(w)
	name, value, has := strings.Cut(text, "=")
	a := argDefault{line: w.line, has: has}
	if has {
		a.start = w.start + len(name) + 1
		a.end = w.end
		if q := value; len(q) >= 2 && (q[0] == '"' || q[0] == '\'') && q[len(q)-1] == q[0] {
			a.start++
			a.end--
		}
	}
	d.args[name] = a
}

func (d *dockerfile) from(words []dockerWord) {
	for len(words) > 0 && strings.HasPrefix(d.text(words[0]), "--") {
		words = words[1:]
	}
	if len(words) == 0 {
		return
	}
	image, text := words[0], d.text(words[0])
	switch {
	case d.stages[strings.ToLower(text)]:
		// An earlier stage: not an image.
	case strings.Contains(text, "$"):
		d.fromArg(image, text)
	default:
		d.found = append(d.found, d.p.classify(d.c, image.line, image.start, image.end, ""))
	}
	if len(words) >= 3 && strings.EqualFold(d.text(words[1]), "AS") {
		d.stages[strings.ToLower(d.text(words[2]))] = true
	}
}

// fromArg handles FROM $NAME or FROM ${NAME}: the reference is the
// default of the global ARG NAME, reported once, at the ARG.
func (d *dockerfile) fromArg(image dockerWord, text string) {
	name, whole := argName(text)
	a, ok := d.args[name]
	switch {
	case !whole || !ok:
		d.found = append(d.found, d.p.classify(d.c, image.line, image.start, image.end, "templated value, set by ARG"))
	case !a.has:
		d.found = append(d.found, d.p.classify(d.c, image.line, image.start, image.end, "templated value, set by ARG "+name+", which has no default"))
	case !a.used:
		a.used = true
		d.args[name] = a
		d.found = append(d.found, d.p.classify(d.c, a.line, a.start, a.end, ""))
	}
}

// argName returns NAME for text that is $NAME or ${NAME} and nothing
// else; whole is false for anything else (${NAME:-x}, $A/$B, reg/$NAME).
func argName(text string) (name string, whole bool) {
	switch {
	case strings.HasPrefix(text, "${") && strings.HasSuffix(text, "}"):
		name = text[2 : len(text)-1]
	case strings.HasPrefix(text, "$"):
		name = text[1:]
	default:
		return "", false
	}
	if name == "" {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isWordByte(c) || i == 0 && '0' <= c && c <= '9' {
			return "", false
		}
	}
	return name, true
}

// copyFrom finds the image of COPY --from=image. A stage name (or
// number) is not one, and a bare name that is not a stage may be a build
// context (docker buildx build --build-context): it is skipped.
func (d *dockerfile) copyFrom(words []dockerWord) {
	for _, w := range words {
		text := d.text(w)
		if !strings.HasPrefix(text, "--") {
			return // flags come first
		}
		value, ok := strings.CutPrefix(text, "--from=")
		if !ok {
			continue
		}
		start := w.start + len("--from=")
		s := span{line: w.line, start: start, end: w.end}
		switch {
		case value == "" || d.stages[strings.ToLower(value)] || strings.Trim(value, "0123456789") == "":
			return // a stage
		case !strings.ContainsAny(value, ":/@$"):
			s.kind, s.reason = Skipped, "COPY --from names neither a stage of this file nor a tagged image; it may be a build context"
			d.found = append(d.found, s)
		default:
			d.found = append(d.found, d.p.classify(d.c, w.line, start, w.end, ""))
		}
		return
	}
}

// word is a whitespace-separated field of a line.
type word struct{ start, end int }

func (w word) text(content []byte) string { return string(content[w.start:w.end]) }

func fields(content []byte, p, end int) []word {
	var words []word
	for p < end {
		p = skipBlank(content, p, end)
		if p == end {
			break
		}
		w := word{start: p}
		for p < end && !isBlank(content[p]) {
			p++
		}
		w.end = p
		words = append(words, w)
	}
	return words
}
