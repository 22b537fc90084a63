package pin

import "github.com/tagpin/tagpin/internal/imageref"

// maxParsed bounds the texts a refParser remembers; past it, it starts
// over (a repository has far fewer distinct references).
const maxParsed = 1 << 16

// refParser parses reference texts and remembers the answers: files
// repeat the same few references many times, and the reference grammar's
// regular expressions cost more than the rest of a scan. The zero value
// is ready to use; it is not safe for concurrent use.
type refParser struct {
	parsed map[string]parsedRef
}

type parsedRef struct {
	ref imageref.Reference
	err error
}

// parse parses text (looking it up costs no allocation).
func (p *refParser) parse(text []byte) (imageref.Reference, error) {
	if r, ok := p.parsed[string(text)]; ok {
		return r.ref, r.err
	}
	ref, err := imageref.Parse(string(text))
	if p.parsed == nil || len(p.parsed) >= maxParsed {
		p.parsed = make(map[string]parsedRef)
	}
	p.parsed[string(text)] = parsedRef{ref, err}
	return ref, err
}
