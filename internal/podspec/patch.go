package podspec

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
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
// in the tagpin.dev/images annotation, merged with what the annotation
// already holds (keyed by field path: /spec/containers/0/image). No pins
// means no operations, so reinvoking on a pinned pod patches nothing.
func Patch(pod *corev1.Pod, pins []Pinned) ([]Operation, error) {
	if len(pins) == 0 {
		return nil, nil
	}
	records := map[string]Record{}
	if old, ok := pod.Annotations[AnnotationImages]; ok {
		// An annotation someone else wrote, or garbled, is replaced.
		_ = json.Unmarshal([]byte(old), &records)
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
	value, err := json.Marshal(records) // map keys come out sorted: a stable annotation
	if err != nil {
		return nil, fmt.Errorf("encoding the %s annotation: %w", AnnotationImages, err)
	}
	if pod.Annotations == nil {
		ops = append(ops, Operation{Op: "add", Path: "/metadata/annotations", Value: map[string]string{AnnotationImages: string(value)}})
	} else {
		ops = append(ops, Operation{Op: "add", Path: "/metadata/annotations/" + escapePointer(AnnotationImages), Value: string(value)})
	}
	return ops, nil
}

// annotationKey names an image in the annotation: its kind and name,
// stable across reinvocations and readable (container/web).
func annotationKey(i Image) string { return string(i.Kind) + "/" + i.Name }

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
