package podspec_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagpin/tagpin/internal/podspec"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "setup", Image: "busybox"}},
			Containers: []corev1.Container{
				{Name: "web", Image: "nginx:1.27"},
				{Name: "pinned", Image: "redis:7@sha256:" + sixtyFour},
				{Name: "empty"},
			},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "ghcr.io/org/debug:v1"}}},
			Volumes: []corev1.Volume{
				{Name: "cfg", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "models", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/models:2"}}},
			},
		},
	}
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestImages(t *testing.T) {
	want := []podspec.Image{
		{Kind: podspec.Container, Name: "web", Ref: "nginx:1.27", Path: "/spec/containers/0/image"},
		{Kind: podspec.Container, Name: "pinned", Ref: "redis:7@sha256:" + sixtyFour, Path: "/spec/containers/1/image"},
		{Kind: podspec.InitContainer, Name: "setup", Ref: "busybox", Path: "/spec/initContainers/0/image"},
		{Kind: podspec.EphemeralContainer, Name: "debugger", Ref: "ghcr.io/org/debug:v1", Path: "/spec/ephemeralContainers/0/image"},
		{Kind: podspec.ImageVolume, Name: "models", Ref: "registry.example/models:2", Path: "/spec/volumes/1/image/reference"},
	}
	if diff := cmp.Diff(want, podspec.Images(testPod())); diff != "" {
		t.Errorf("Images (-want +got):\n%s", diff)
	}
}

// apply applies ops to pod the way the API server applies a webhook's
// JSONPatch and returns the result.
func apply(t *testing.T, pod *corev1.Pod, ops []podspec.Operation) *corev1.Pod {
	t.Helper()
	doc, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	patchJSON, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		t.Fatalf("decoding %s: %v", patchJSON, err)
	}
	out, err := patch.Apply(doc)
	if err != nil {
		t.Fatalf("applying %s: %v", patchJSON, err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func TestPatch(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	d := "sha256:" + sixtyFour
	for _, tc := range []struct {
		name        string
		annotations map[string]string
	}{
		{"no annotations", nil},
		{"other annotations", map[string]string{"team": "web"}},
		{"garbled record", map[string]string{podspec.AnnotationImages: "{not json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			pod.Annotations = tc.annotations
			images := podspec.Images(pod)
			pins := []podspec.Pinned{
				{Image: images[0], Pinned: "nginx:1.27@" + d, Digest: d, Source: "registry", At: at},
				{Image: images[2], Pinned: "busybox:latest@" + d, Digest: d, Source: "revision", At: at},
				{Image: images[3], Pinned: "ghcr.io/org/debug:v1@" + d, Digest: d, Source: "fallback", At: at.Add(-time.Hour)},
				{Image: images[4], Pinned: "registry.example/models:2@" + d, Digest: d, Source: "registry", At: at},
			}
			ops, err := podspec.Patch(pod, pins)
			if err != nil {
				t.Fatal(err)
			}
			got := apply(t, pod, ops)

			want := testPod()
			want.Spec.Containers[0].Image = "nginx:1.27@" + d
			want.Spec.InitContainers[0].Image = "busybox:latest@" + d
			want.Spec.EphemeralContainers[0].Image = "ghcr.io/org/debug:v1@" + d
			want.Spec.Volumes[1].Image.Reference = "registry.example/models:2@" + d
			want.Annotations = map[string]string{}
			for k, v := range tc.annotations {
				want.Annotations[k] = v
			}
			want.Annotations[podspec.AnnotationImages] = `{"container/web":{"original":"nginx:1.27","digest":"` + d + `","source":"registry","time":"2026-11-23T10:00:00Z"},` +
				`"ephemeralContainer/debugger":{"original":"ghcr.io/org/debug:v1","digest":"` + d + `","source":"fallback","time":"2026-11-23T09:00:00Z"},` +
				`"initContainer/setup":{"original":"busybox","digest":"` + d + `","source":"revision","time":"2026-11-23T10:00:00Z"},` +
				`"volume/models":{"original":"registry.example/models:2","digest":"` + d + `","source":"registry","time":"2026-11-23T10:00:00Z"}}`
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("patched pod (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPatchMergesEarlierRecords(t *testing.T) {
	// kubectl debug: the pod was pinned at creation; the ephemeral
	// container is pinned later and the record keeps both.
	d := "sha256:" + sixtyFour
	pod := testPod()
	pod.Spec.Containers[0].Image = "nginx:1.27@" + d
	pod.Annotations = map[string]string{podspec.AnnotationImages: `{"container/web":{"original":"nginx:1.27","digest":"` + d + `","source":"registry","time":"2026-11-23T10:00:00Z"}}`}
	images := podspec.Images(pod)
	ops, err := podspec.Patch(pod, []podspec.Pinned{{Image: images[3], Pinned: "ghcr.io/org/debug:v1@" + d, Digest: d, Source: "registry", At: time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)}})
	if err != nil {
		t.Fatal(err)
	}
	got := apply(t, pod, ops).Annotations[podspec.AnnotationImages]
	var records map[string]podspec.Record
	if err := json.Unmarshal([]byte(got), &records); err != nil {
		t.Fatal(err)
	}
	if len(records) != 2 || records["container/web"].Digest != d || records["ephemeralContainer/debugger"].Time != "2026-11-23T11:00:00Z" {
		t.Errorf("merged annotation: %s", got)
	}
}

func TestNoPinsNoPatch(t *testing.T) {
	ops, err := podspec.Patch(testPod(), nil)
	if err != nil || ops != nil {
		t.Errorf("Patch with no pins = %v, %v; want no operations", ops, err)
	}
}

// The annotation holds tagpin's records only: entries the pod's creator
// wrote (or copied from another pod) that do not describe the pod are
// dropped, even when nothing is pinned.
func TestPatchDropsForeignRecords(t *testing.T) {
	d := "sha256:" + sixtyFour
	other := "sha256:" + strings.Repeat("f", 64)
	record := func(original, digest string) string {
		return `{"original":"` + original + `","digest":"` + digest + `","source":"registry","time":"2026-11-23T10:00:00Z"}`
	}
	for _, tc := range []struct {
		name       string
		webImage   string // the image of container web
		annotation string
		pin        bool   // pin the init container
		want       string // the annotation after the patch; "-" for none
		wantNoOps  bool
	}{{
		name:       "consistent record, nothing to pin",
		webImage:   "nginx:1.27@" + d,
		annotation: `{"container/web":` + record("nginx:1.27", d) + `}`,
		wantNoOps:  true,
	}, {
		name:       "record of an image that is not pinned",
		webImage:   "nginx:1.27",
		annotation: `{"container/web":` + record("nginx:1.27", d) + `}`,
		want:       "-",
	}, {
		name:       "record claiming another digest",
		webImage:   "nginx:1.27@" + d,
		annotation: `{"container/web":` + record("nginx:1.27", other) + `}`,
		want:       "-",
	}, {
		name:       "record of a container the pod does not have",
		webImage:   "nginx:1.27@" + d,
		annotation: `{"container/web":` + record("nginx:1.27", d) + `,"container/ghost":` + record("evil:1", d) + `}`,
		want:       `{"container/web":` + record("nginx:1.27", d) + `}`,
	}, {
		name:       "garbled annotation",
		webImage:   "nginx:1.27@" + d,
		annotation: `{not json`,
		want:       "-",
	}, {
		name:       "foreign record dropped while pinning",
		webImage:   "nginx:1.27",
		annotation: `{"container/web":` + record("nginx:1.27", d) + `}`,
		pin:        true,
		want:       `{"initContainer/setup":` + record("busybox", d) + `}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			pod.Spec.Containers[0].Image = tc.webImage
			pod.Annotations = map[string]string{podspec.AnnotationImages: tc.annotation, "team": "web"}
			var pins []podspec.Pinned
			if tc.pin {
				pins = []podspec.Pinned{{Image: podspec.Images(pod)[2], Pinned: "busybox:latest@" + d, Digest: d, Source: "registry", At: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}}
			}
			ops, err := podspec.Patch(pod, pins)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNoOps {
				if ops != nil {
					t.Errorf("Patch = %v, want no operations", ops)
				}
				return
			}
			got := apply(t, pod, ops)
			if got.Annotations["team"] != "web" {
				t.Errorf("other annotations were changed: %v", got.Annotations)
			}
			v, ok := got.Annotations[podspec.AnnotationImages]
			switch {
			case tc.want == "-" && ok:
				t.Errorf("annotation = %s, want none", v)
			case tc.want != "-" && v != tc.want:
				t.Errorf("annotation:\n got  %s\n want %s", v, tc.want)
			}
		})
	}
}
