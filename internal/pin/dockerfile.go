package pin

import (
	"bytes"
	"strings"
)

// scanDockerfile finds the images of FROM instructions:
//
//	FROM [--platform=…] image [AS name]
//
// Stage names defined by an earlier AS and scratch are not images; a
// reference using a build argument ($BASE, ${BASE}) is skipped. Lines
// continuing an instruction (after a trailing backslash) are not
// instructions.
func scanDockerfile(content []byte, start int, parser *refParser) []span {
	var (
		found     []span
		stages    = map[string]bool{"scratch": true}
		continued bool
	)
	lines(content, start, func(n, start, end int) {
		p := skipBlank(content, start, end)
		if p == end || content[p] == '#' {
			return // comments and empty lines do not end a continuation
		}
		wasContinued := continued
		continued = bytes.HasSuffix(bytes.TrimRight(content[p:end], " \t"), []byte(`\`))
		if wasContinued {
			return
		}
		words := fields(content, p, end)
		if len(words) < 2 || !strings.EqualFold(words[0].text(content), "FROM") {
			return
		}
		words = words[1:]
		for len(words) > 0 && strings.HasPrefix(words[0].text(content), "--") {
			words = words[1:]
		}
		if len(words) == 0 {
			return
		}
		image, text := words[0], words[0].text(content)
		switch {
		case text == `\`, stages[strings.ToLower(text)]:
			// A continued line or an earlier stage: not an image.
		case strings.Contains(text, "$"):
			found = append(found, parser.classify(content, n, image.start, image.end, "templated value, set by ARG"))
		default:
			found = append(found, parser.classify(content, n, image.start, image.end, ""))
		}
		if len(words) >= 3 && strings.EqualFold(words[1].text(content), "AS") {
			stages[strings.ToLower(words[2].text(content))] = true
		}
	})
	return found
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
