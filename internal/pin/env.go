package pin

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// isEnvName reports whether filename is a dotenv file: .env, .env.* or
// *.env.
func isEnvName(filename string) bool {
	base := filepath.Base(filename)
	return base == ".env" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env")
}

// scanEnv finds image references in a dotenv file, the values of
//
//	[export ]KEY=registry/name:tag
//
// whose KEY ends in IMAGE (any case) or is one of imageKeys (the
// variables a Compose file next to it uses as a whole image: value).
// Values may be quoted; an unquoted value ends before " #".
func scanEnv(content []byte, start int, p *refParser, imageKeys map[string]bool) []span {
	var found []span
	lines(content, start, func(n, start, end int) {
		q := skipBlank(content, start, end)
		if rest, ok := cutWord(content[q:end], "export"); ok {
			q = end - len(rest)
			q = skipBlank(content, q, end)
		}
		eq := q
		for eq < end && isWordByte(content[eq]) {
			eq++
		}
		if eq == q || eq == end || content[eq] != '=' {
			return
		}
		key := string(content[q:eq])
		if !strings.HasSuffix(strings.ToUpper(key), "IMAGE") && !imageKeys[key] {
			return
		}
		v := eq + 1
		if v == end {
			return // KEY= : unset
		}
		vs, ve := v, end
		if c := content[v]; c == '"' || c == '\'' {
			quote := -1
			for i := v + 1; i < end; i++ {
				if content[i] == '\\' && c == '"' {
					i++
					continue
				}
				if content[i] == c {
					quote = i
					break
				}
			}
			if quote < 0 {
				return // a value going on over lines
			}
			vs, ve = v+1, quote
		} else {
			for i := v; i < end; i++ {
				if content[i] == '#' && i > v && isBlank(content[i-1]) {
					ve = i
					break
				}
			}
			for ve > vs && isBlank(content[ve-1]) {
				ve--
			}
		}
		if ve == vs {
			return
		}
		found = append(found, p.classify(content, n, vs, ve, ""))
	})
	return found
}

// cutWord returns what follows word and a blank at the start of b.
func cutWord(b []byte, word string) ([]byte, bool) {
	if len(b) <= len(word) || string(b[:len(word)]) != word || !isBlank(b[len(word)]) {
		return nil, false
	}
	return b[len(word):], true
}

// isComposeName reports whether filename is a Compose file:
// compose.yaml, docker-compose.yml, compose.override.yaml, ….
func isComposeName(filename string) bool {
	base := strings.ToLower(filepath.Base(filename))
	ext := filepath.Ext(base)
	return (ext == ".yaml" || ext == ".yml") && (strings.HasPrefix(base, "compose.") || strings.HasPrefix(base, "docker-compose."))
}

// wholeVariable matches an image: value that is one variable:
// $KEY, ${KEY}, ${KEY:-default}, ${KEY-default}, ${KEY:?error}.
var wholeVariable = regexp.MustCompile(`^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?:[:]?[-?][^}]*)?\})$`)

// composeImageKeys returns the variables that the Compose files in dir
// use as a whole image: value. Files it cannot read add nothing.
func composeImageKeys(dir string) map[string]bool {
	keys := map[string]bool{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return keys
	}
	var p refParser
	for _, e := range entries {
		if !e.Type().IsRegular() || !isComposeName(e.Name()) {
			continue
		}
		content, binary, err := readText(filepath.Join(dir, e.Name()))
		if err != nil || binary {
			continue
		}
		start := 0
		if bytes.HasPrefix(content, utf8BOM) {
			start = len(utf8BOM)
		}
		for _, s := range scanYAML(content, start, &p) {
			if m := wholeVariable.FindSubmatch(content[s.start:s.end]); m != nil {
				keys[string(m[1])+string(m[2])] = true
			}
		}
	}
	return keys
}
