package imagediff

import (
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// mask replaces the values of keys that look like they hold secrets.
const mask = "***"

// secretWords are the parts of a key name that mark its value as a
// secret.
var secretWords = []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "KEY", "CREDENTIAL", "PRIVATE", "AUTH_", "_AUTH", "SESSION", "COOKIE", "DSN", "SALT"}

// secretLooking reports whether an environment variable or label name
// looks like it holds a secret (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN,
// DB_PASSWORD…).
func secretLooking(key string) bool {
	k := strings.ToUpper(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// diffKeys compares two maps; with secrets, values of secret-looking
// keys are masked.
func diffKeys(a, b map[string]string, secrets bool) []KeyChange {
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []KeyChange
	for _, k := range keys {
		va, inA := a[k]
		vb, inB := b[k]
		var c KeyChange
		switch {
		case inA && !inB:
			c = KeyChange{Key: k, Change: Removed, From: va}
		case !inA && inB:
			c = KeyChange{Key: k, Change: Added, To: vb}
		case va != vb:
			c = KeyChange{Key: k, Change: Changed, From: va, To: vb}
		default:
			continue
		}
		if secrets && secretLooking(k) {
			c.Masked = true
			if c.From != "" {
				c.From = mask
			}
			if c.To != "" {
				c.To = mask
			}
		}
		out = append(out, c)
	}
	return out
}

// envMap turns KEY=VALUE lines into a map (a later line wins, as for
// the runtime).
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

func setDiff(a, b map[string]bool) (added, removed []string) {
	for k := range b {
		if !a[k] {
			added = append(added, k)
		}
	}
	for k := range a {
		if !b[k] {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

func setChange(a, b map[string]struct{}) *SetChange {
	ma, mb := map[string]bool{}, map[string]bool{}
	for k := range a {
		ma[k] = true
	}
	for k := range b {
		mb[k] = true
	}
	added, removed := setDiff(ma, mb)
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	return &SetChange{Added: added, Removed: removed}
}

func change(a, b string) *Change {
	if a == b {
		return nil
	}
	return &Change{From: a, To: b}
}

func listChange(a, b []string) *ListChange {
	if slices.Equal(a, b) {
		return nil
	}
	return &ListChange{From: nonNil(a), To: nonNil(b)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func created(t v1.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// diffConfig compares two image configs; nil when the fields compared
// are the same.
func diffConfig(a, b *v1.ConfigFile) *ConfigDiff {
	ca, cb := a.Config, b.Config
	d := &ConfigDiff{
		Env:          diffKeys(envMap(ca.Env), envMap(cb.Env), true),
		Entrypoint:   listChange(ca.Entrypoint, cb.Entrypoint),
		Cmd:          listChange(ca.Cmd, cb.Cmd),
		User:         change(ca.User, cb.User),
		WorkingDir:   change(ca.WorkingDir, cb.WorkingDir),
		ExposedPorts: setChange(ca.ExposedPorts, cb.ExposedPorts),
		Volumes:      setChange(ca.Volumes, cb.Volumes),
		Labels:       diffKeys(ca.Labels, cb.Labels, true),
		StopSignal:   change(ca.StopSignal, cb.StopSignal),
		Created:      change(created(a.Created), created(b.Created)),
		History:      diffHistory(a.History, b.History),
	}
	if d.Env == nil && d.Entrypoint == nil && d.Cmd == nil && d.User == nil && d.WorkingDir == nil && d.ExposedPorts == nil &&
		d.Volumes == nil && d.Labels == nil && d.StopSignal == nil && d.Created == nil && d.History == nil {
		return nil
	}
	return d
}

func historyEntry(h v1.History) HistoryEntry {
	return HistoryEntry{CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
}

// diffHistory compares build histories after their common start
// (timestamps ignored).
func diffHistory(a, b []v1.History) *HistoryDiff {
	n := 0
	for n < len(a) && n < len(b) && historyEntry(a[n]) == historyEntry(b[n]) {
		n++
	}
	if n == len(a) && n == len(b) {
		return nil
	}
	d := &HistoryDiff{Common: n}
	for _, h := range a[n:] {
		d.Removed = append(d.Removed, historyEntry(h))
	}
	for _, h := range b[n:] {
		d.Added = append(d.Added, historyEntry(h))
	}
	return d
}
