package resolve

import (
	"fmt"
	"strings"
)

// Platform names an operating system and CPU architecture, as in
// "linux/arm64/v8".
type Platform struct {
	OS, Architecture, Variant string
}

// ParsePlatform parses "os/arch[/variant]".
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], for example linux/amd64 or linux/arm/v7", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func (p Platform) String() string {
	if p.Variant == "" {
		return p.OS + "/" + p.Architecture
	}
	return p.OS + "/" + p.Architecture + "/" + p.Variant
}

// matches reports whether a manifest for platform q satisfies p. A
// platform without a variant matches any variant; arm64 without a variant
// equals arm64/v8.
func (p Platform) matches(q Platform) bool {
	if p.OS != q.OS || p.Architecture != q.Architecture {
		return false
	}
	if p.Variant == "" {
		return true
	}
	v := q.Variant
	if v == "" && q.Architecture == "arm64" {
		v = "v8"
	}
	return p.Variant == v
}
