package kubestore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/tagpin/tagpin/internal/store"
)

// Object names are derived from the key: a readable prefix, then "-" and
// the first 16 hex digits of a SHA-256 over the whole key. The prefix is
// lower-cased, every run of characters other than a-z and 0-9 becomes one
// '-', and it is cut to prefixLen characters; the name is a valid
// DNS-1123 subdomain (and label) of at most prefixLen+17 characters.
const prefixLen = 40

// Labels set on the objects.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelOwnerUID  = Group + "/owner-uid"
	LabelOwnerKind = Group + "/owner-kind"
	managedBy      = "tagpin"
)

// TagObjectName returns the name of the object holding key's record
// (a ClusterImageTag for the public scope, else an ImageTag in the
// namespace key.Scope).
func TagObjectName(key store.TagKey) string {
	return objectName(key.Repository+"-"+key.Tag, key.Registry, key.Repository, key.Tag)
}

// RevisionObjectName returns the name of the RevisionPin holding the
// pins of the workload revision o, in o's namespace.
func RevisionObjectName(o store.Owner) string {
	return objectName(o.Name, o.Kind, o.UID, o.Revision)
}

// LegacyRevisionObjectName returns the name of the RevisionPin that held
// key's pin in the earlier shape, one object per image of a revision,
// which Store.Migrate moves into the object named RevisionObjectName.
func LegacyRevisionObjectName(key store.RevisionKey) string {
	return objectName(key.Owner.Name+"-"+imageName(key.Image),
		key.Owner.Kind, key.Owner.UID, key.Owner.Revision, key.Image)
}

// imageName is the last path element of an image reference, without its
// digest: the readable part of app:1.0 and registry.example/team/app:1.0.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	return ref[strings.LastIndex(ref, "/")+1:]
}

func objectName(readable string, key ...string) string {
	h := sha256.New()
	for _, k := range key {
		// Length-prefixed, so no two keys hash the same bytes.
		h.Write([]byte{byte(len(k) >> 24), byte(len(k) >> 16), byte(len(k) >> 8), byte(len(k))})
		h.Write([]byte(k))
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	if p := sanitize(readable); p != "" {
		return p + "-" + sum
	}
	return sum
}

// sanitize lower-cases s, turns each run of other characters than a-z
// and 0-9 into one '-', trims dashes at both ends and cuts the result to
// prefixLen characters.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
				if b.Len() >= prefixLen {
					break
				}
			}
			dash = false
			b.WriteRune(r)
			if b.Len() >= prefixLen {
				break
			}
			continue
		}
		dash = true
	}
	return strings.TrimRight(b.String(), "-")
}
