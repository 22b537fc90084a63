package podspec

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	corev1 "k8s.io/api/core/v1"

	"github.com/tagpin/tagpin/internal/imageref"
)

// AnnotationImages is the Pod annotation that records, for each image
// tagpin pinned, what was written, the digest and where it came from.
const AnnotationImages = "tagpin.dev/images"

// AnnotationSkip opts a Pod out when set to "true".
const AnnotationSkip = "tagpin.dev/skip"

// Operation is one JSON patch (RFC 6902) operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Pinned is the outcome for one image: its new reference and how the
// digest was found.
type Pinned struct {
	Image Image
	// Pinned is the reference with its digest (name:tag@sha256:…).
	Pinned string
	// Digest is the digest.
	Digest string
	// Source is registry, revision or fallback.
	Source string
	// At is when the digest was resolved or last verified.
	At time.Time
}

// Record is one entry of the tagpin.dev/images annotation.
type Record struct {
	// Original is the reference as written in the pod spec.
	Original string `json:"original"`
	Digest   string `json:"digest"`
	// Source is registry, revision or fallback.
	Source string `json:"source"`
	// Time is when the digest was resolved (registry) or last verified
	// (revision, fallback), RFC 3339.
	Time string `json:"time"`
}

// Patch returns the operations that write pins into pod and record them
// in the tagpin.dev/images annotation (keyed by field: container/web).
// The annotation holds tagpin's records only: an entry already there is
// kept when it describes the pod as it is (its field holds the
// reference it records, pinned to its digest), as tagpin's own entries
// from an earlier admission do; anything else in it (written by the
// pod's creator, copied from another pod, garbled) is dropped. No pins
// and nothing to drop means no operations, so reinvoking on a pinned pod
// patches nothing.
func Patch(pod *corev1.Pod, pins []Pinned) ([]Operation, error) {
	records, dropped := ownRecords(pod)
	if len(pins) == 0 && !dropped {
		return nil, nil
	}
	ops := make([]Operation, 0, len(pins)+1)
	for _, p := range pins {
		ops = append(ops, Operation{Op: "replace", Path: p.Image.Path, Value: p.Pinned})
		records[annotationKey(p.Image)] = Record{
			Original: p.Image.Ref,
			Digest:   p.Digest,
			Source:   p.Source,
			Time:     p.At.UTC().Format(time.RFC3339),
		}
	}
	annotationPath := "/metadata/annotations/" + escapePointer(AnnotationImages)
	if len(records) == 0 {
		return append(ops, Operation{Op: "remove", Path: annotationPath}), nil
	}
	value, err := json.Marshal(records) // map keys come out sorted: a stable annotation
	if err != nil {
		return nil, fmt.Errorf("encoding the %s annotation: %w", AnnotationImages, err)
	}
	if pod.Annotations == nil {
		return append(ops, Operation{Op: "add", Path: "/metadata/annotations", Value: map[string]string{AnnotationImages: string(value)}}), nil
	}
	return append(ops, Operation{Op: "add", Path: annotationPath, Value: string(value)}), nil
}

// ownRecords returns the entries of pod's tagpin.dev/images annotation
// that describe the pod as it is, and whether the annotation held
// anything else.
func ownRecords(pod *corev1.Pod) (records map[string]Record, dropped bool) {
	records = map[string]Record{}
	old, ok := pod.Annotations[AnnotationImages]
	if !ok {
		return records, false
	}
	var written map[string]Record
	if err := json.Unmarshal([]byte(old), &written); err != nil {
		return records, true
	}
	fields := map[string]string{}
	for _, img := range Images(pod) {
		fields[annotationKey(img)] = img.Ref
	}
	for key, r := range written {
		if describes(r, fields[key]) {
			records[key] = r
		} else {
			dropped = true
		}
	}
	return records, dropped
}

// describes reports whether r is the record of a field holding image:
// image is r's original reference pinned to r's digest, as tagpin
// writes it.
func describes(r Record, image string) bool {
	ref, err := imageref.Parse(r.Original)
	if err != nil || ref.Pinned() {
		return false
	}
	d, err := digest.Parse(r.Digest)
	if err != nil {
		return false
	}
	return image == ref.WithDigest(d)
}

// annotationKey names an image in the annotation: its kind and name,
// stable across reinvocations and readable (container/web).
func annotationKey(i Image) string { return string(i.Kind) + "/" + i.Name }

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
