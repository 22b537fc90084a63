package podspec

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Kind is the kind of field an image reference lives in.
type Kind string

// The fields of a Pod that hold image references.
const (
	Container          Kind = "container"
	InitContainer      Kind = "initContainer"
	EphemeralContainer Kind = "ephemeralContainer"
	ImageVolume        Kind = "volume"
)

// Image is one image reference in a Pod.
type Image struct {
	Kind Kind
	// Name is the container's or volume's name.
	Name string
	// Ref is the reference exactly as written.
	Ref string
	// Path is the JSON pointer of the field (/spec/containers/0/image).
	Path string
}

// String names the field for messages: container "web", volume "data".
func (i Image) String() string {
	return fmt.Sprintf("%s %q", i.Kind, i.Name)
}

// Images returns every image reference of pod, in spec order:
// containers, init containers, ephemeral containers, image volumes.
// Empty references are left out.
func Images(pod *corev1.Pod) []Image {
	var out []Image
	for i, c := range pod.Spec.Containers {
		out = appendImage(out, Container, c.Name, c.Image, fmt.Sprintf("/spec/containers/%d/image", i))
	}
	for i, c := range pod.Spec.InitContainers {
		out = appendImage(out, InitContainer, c.Name, c.Image, fmt.Sprintf("/spec/initContainers/%d/image", i))
	}
	for i, c := range pod.Spec.EphemeralContainers {
		out = appendImage(out, EphemeralContainer, c.Name, c.Image, fmt.Sprintf("/spec/ephemeralContainers/%d/image", i))
	}
	for i, v := range pod.Spec.Volumes {
		if v.Image != nil {
			out = appendImage(out, ImageVolume, v.Name, v.Image.Reference, fmt.Sprintf("/spec/volumes/%d/image/reference", i))
		}
	}
	return out
}

func appendImage(out []Image, kind Kind, name, ref, path string) []Image {
	if strings.TrimSpace(ref) == "" {
		return out
	}
	return append(out, Image{Kind: kind, Name: name, Ref: ref, Path: path})
}
