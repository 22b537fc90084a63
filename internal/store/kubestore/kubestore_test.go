package kubestore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
	"github.com/tagpin/tagpin/internal/store/storetest"
)

// shared is the control plane the tests share; TestMain starts it.
var shared controlplanetest.Shared

// namespaces are those the conformance suite and these tests write to.
var namespaces = []string{"team-a", "team-b", "public", "ns", "other-ns", "replicas", "owners"}

func TestMain(m *testing.M) {
	os.Exit(shared.Run(context.Background(), m, func(cp *controlplanetest.ControlPlane) error {
		return cp.CreateNamespaces(context.Background(), namespaces...)
	}))
}

// reset deletes every ClusterImageTag, ImageTag and RevisionPin, so the
// next store starts empty, and returns once the API server lists none.
func reset(t *testing.T, env *controlplanetest.ControlPlane) {
	t.Helper()
	ctx := t.Context()
	if err := env.Client.DeleteAllOf(ctx, &kubestore.ClusterImageTag{}); err != nil {
		t.Fatalf("deleting ClusterImageTags: %v", err)
	}
	var nss corev1.NamespaceList
	if err := env.Client.List(ctx, &nss); err != nil {
		t.Fatalf("listing namespaces: %v", err)
	}
	for _, ns := range nss.Items {
		for _, obj := range []client.Object{&kubestore.ImageTag{}, &kubestore.RevisionPin{}} {
			if err := env.Client.DeleteAllOf(ctx, obj, client.InNamespace(ns.Name)); err != nil {
				t.Fatalf("deleting %T in %s: %v", obj, ns.Name, err)
			}
		}
	}
	eventually(t, "the records are deleted", func(ctx context.Context) (bool, error) {
		for _, l := range []client.ObjectList{&kubestore.ClusterImageTagList{}, &kubestore.ImageTagList{}, &kubestore.RevisionPinList{}} {
			if err := env.Client.List(ctx, l, client.Limit(1)); err != nil {
				return false, err
			}
			if meta.LenList(l) > 0 {
				return false, nil
			}
		}
		return true, nil
	})
}

// open returns a new store on cfg, closed when the test ends.
func open(t *testing.T, cfg *rest.Config, opts ...kubestore.Option) *kubestore.Store {
	t.Helper()
	s, err := kubestore.New(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	env := shared.Get(t)
	storetest.Run(t, func(t *testing.T, maxMoves int) store.Store {
		reset(t, env)
		s, err := kubestore.New(t.Context(), env.Config, kubestore.WithMaxMoves(maxMoves))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}

func revKey(ns, uid, image string) store.RevisionKey {
	return store.RevisionKey{Namespace: ns, Owner: store.Owner{Kind: "ReplicaSet", Name: "web-" + uid, UID: uid}, Image: image}
}

// eventually polls cond until it returns true, for at most 30 s.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 30*time.Second, true, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

// TestReplicasShareState runs two stores, as two webhook replicas do:
// what one writes the other reads, and concurrent pinners through both
// agree on one digest.
func TestReplicasShareState(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	a, b := open(t, env.Config), open(t, env.Config)

	k := revKey("replicas", "uid-share", "app:latest")
	if got, err := a.PinRevision(t.Context(), k, storetest.Digest("a")); err != nil || got != storetest.Digest("a") {
		t.Fatalf("PinRevision through a = %s, %v; want %s", got, err, storetest.Digest("a"))
	}
	eventually(t, "replica b reads the pin replica a wrote", func(ctx context.Context) (bool, error) {
		got, err := b.Revision(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if got != storetest.Digest("a") {
			return false, fmt.Errorf("Revision through b = %s, want %s", got, storetest.Digest("a"))
		}
		return true, nil
	})
	// b now knows the pin: its own write loses to it.
	if got, err := b.PinRevision(t.Context(), k, storetest.Digest("b")); err != nil || got != storetest.Digest("a") {
		t.Errorf("PinRevision through b = %s, %v; want replica a's %s", got, err, storetest.Digest("a"))
	}

	tag := storetest.Key("app", "latest")
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if _, err := a.Observe(t.Context(), tag, storetest.Digest("one"), at, store.SourceAdmission); err != nil {
		t.Fatal(err)
	}
	eventually(t, "replica b reads the tag replica a recorded", func(ctx context.Context) (bool, error) {
		got, err := b.Tag(ctx, tag)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil && got.Current() == storetest.Digest("one"), err
	})
	// b moves the tag; a's next observation of the old digest, made
	// before b's, is a late writer, whatever a's cache held.
	if obs, err := b.Observe(t.Context(), tag, storetest.Digest("two"), at.Add(2*time.Minute), store.SourceRefresh); err != nil || !obs.Moved {
		t.Fatalf("Observe through b = %+v, %v; want Moved", obs, err)
	}
	if obs, err := a.Observe(t.Context(), tag, storetest.Digest("one"), at.Add(time.Minute), store.SourceAdmission); err != nil || obs.Moved {
		t.Errorf("late Observe through a = %+v, %v; want not Moved", obs, err)
	}
	eventually(t, "replica a reads replica b's move", func(ctx context.Context) (bool, error) {
		got, err := a.Tag(ctx, tag)
		return err == nil && got.Current() == storetest.Digest("two") && len(got.History) == 2, err
	})

	// 16 writers, split across the replicas, pin one new key at once.
	const writers = 16
	k = revKey("replicas", "uid-race", "app:latest")
	results := make([]digest.Digest, writers)
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.PinRevision(t.Context(), k, storetest.Digest(fmt.Sprint("writer", i)))
		})
	}
	close(start)
	wg.Wait()
	for i := range writers {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Errorf("writer %d got %s, writer 0 got %s: writers disagree", i, results[i], results[0])
		}
	}
	// Each replica returned from a PinRevision only once its cache held
	// the pin.
	for name, s := range map[string]*kubestore.Store{"a": a, "b": b} {
		if got, err := s.Revision(t.Context(), k); err != nil || got != results[0] {
			t.Errorf("Revision through %s = %s, %v; want %s", name, got, err, results[0])
		}
	}
}

// TestImagesOfOneRevision pins many images of one revision at once
// through two replicas, two writers per image with different digests, as
// the images of a pod are pinned: every image is kept in the revision's
// one object, and the writers of each image agree.
func TestImagesOfOneRevision(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	a, b := open(t, env.Config), open(t, env.Config)
	const images = 12 // more than kubestore.DefaultAttempts
	results := make([]digest.Digest, 2*images)
	errs := make([]error, 2*images)
	key := func(i int) store.RevisionKey { return revKey("replicas", "uid-images", fmt.Sprintf("app-%02d:1", i)) }
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 * images {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			results[w], errs[w] = s.PinRevision(t.Context(), key(w/2), storetest.Digest(fmt.Sprint("writer", w)))
		})
	}
	close(start)
	wg.Wait()
	for w := range 2 * images {
		if errs[w] != nil {
			t.Fatalf("writer %d of %s: %v", w, key(w/2).Image, errs[w])
		}
	}
	for i := range images {
		if results[2*i] != results[2*i+1] {
			t.Errorf("the writers of %s disagree: %s, %s", key(i).Image, results[2*i], results[2*i+1])
		}
	}
	var p kubestore.RevisionPin
	if err := env.Client.Get(t.Context(), types.NamespacedName{Namespace: "replicas", Name: kubestore.RevisionObjectName(key(0).Owner)}, &p); err != nil {
		t.Fatal(err)
	}
	got := map[string]digest.Digest{}
	for _, img := range p.Images {
		got[img.Image] = digest.Digest(img.Digest)
	}
	want := map[string]digest.Digest{}
	for i := range images {
		want[key(i).Image] = results[2*i]
	}
	if diff := cmp.Diff(want, got); diff != "" || int(p.ImageCount) != images {
		t.Errorf("RevisionPin holds %d images, counted %d (-want +got):\n%s", len(p.Images), p.ImageCount, diff)
	}
}

// countingConfig returns a copy of cfg that counts the requests it sends,
// other than watches.
func countingConfig(cfg *rest.Config, n *atomic.Int64) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("watch") != "true" {
				n.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestReadsAreCached checks that lookups, found or not, cost no request
// to the API server once the store is open.
func TestReadsAreCached(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	var requests atomic.Int64
	s := open(t, countingConfig(env.Config, &requests))
	tag := storetest.Key("cached", "1")
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.Observe(t.Context(), tag, storetest.Digest("a"), at, store.SourceCLI); err != nil {
		t.Fatal(err)
	}
	rk := revKey("ns", "uid-cached", "app:1")
	if _, err := s.PinRevision(t.Context(), rk, storetest.Digest("a")); err != nil {
		t.Fatal(err)
	}

	before := requests.Load()
	if before == 0 {
		t.Fatal("no request counted while opening the store and writing: the count below would prove nothing")
	}
	for range 100 {
		if _, err := s.Tag(t.Context(), tag); err != nil {
			t.Fatalf("Tag(%s): %v", tag, err)
		}
		if _, err := s.Tag(t.Context(), storetest.Key("cached", "missing")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Tag of a missing tag: err = %v, want ErrNotFound", err)
		}
		if _, err := s.Revision(t.Context(), rk); err != nil {
			t.Fatalf("Revision: %v", err)
		}
		if _, err := s.Revision(t.Context(), revKey("ns", "uid-missing", "app:1")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Revision of a missing pin: err = %v, want ErrNotFound", err)
		}
		// The same digest, seen no later: nothing to write.
		if _, err := s.Observe(t.Context(), tag, storetest.Digest("a"), at, store.SourceCLI); err != nil {
			t.Fatal(err)
		}
		// An existing pin: the first writer's digest, from the cache.
		if got, err := s.PinRevision(t.Context(), rk, storetest.Digest("b")); err != nil || got != storetest.Digest("a") {
			t.Fatalf("PinRevision of a pinned key = %s, %v; want %s", got, err, storetest.Digest("a"))
		}
	}
	if got := requests.Load() - before; got != 0 {
		t.Errorf("600 cached calls sent %d requests to the API server, want 0", got)
	}
}

// TestObjects checks the objects a store writes, as kubectl shows them.
func TestObjects(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	s := open(t, env.Config)
	at := time.Date(2026, 11, 1, 12, 0, 0, 123456789, time.UTC)

	scoped := store.TagKey{Registry: "registry.example", Repository: "team/App_Server", Tag: "V1.2", Scope: "team-a"}
	for i, d := range []string{"a", "b", "c"} {
		if _, err := s.Observe(t.Context(), scoped, storetest.Digest(d), at.Add(time.Duration(i)*time.Hour), store.SourceAdmission); err != nil {
			t.Fatal(err)
		}
	}
	var it kubestore.ImageTag
	if err := env.Client.Get(t.Context(), types.NamespacedName{Namespace: "team-a", Name: kubestore.TagObjectName(scoped)}, &it); err != nil {
		t.Fatalf("getting the ImageTag of %s: %v", scoped, err)
	}
	if !strings.HasPrefix(it.Name, "team-app-server-v1-2-") {
		t.Errorf("ImageTag name %q: want the readable prefix team-app-server-v1-2-", it.Name)
	}
	wantRecord := kubestore.TagRecord{
		Image: "registry.example/team/App_Server:V1.2", Registry: "registry.example", Repository: "team/App_Server", Tag: "V1.2",
		Digest: string(storetest.Digest("c")), LastVerified: metav1.NewTime(at.Add(2 * time.Hour).Truncate(time.Second)), Moves: 3,
	}
	gotRecord := it.TagRecord
	gotRecord.History = nil
	if diff := cmp.Diff(wantRecord, gotRecord); diff != "" {
		t.Errorf("ImageTag fields (-want +got):\n%s", diff)
	}
	// History keeps microseconds.
	got, err := s.Tag(t.Context(), scoped)
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Add(2 * time.Hour).Truncate(time.Microsecond); !got.Verified().Equal(want) {
		t.Errorf("Verified = %s, want %s", got.Verified(), want)
	}

	// Pins are owned by their workload, for garbage collection.
	for _, tc := range []struct {
		kind, apiVersion string
	}{
		{"ReplicaSet", "apps/v1"},
		{"Job", "batch/v1"},
		{"StatefulSet", "apps/v1"},
		{"DaemonSet", "apps/v1"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			k := store.RevisionKey{
				Namespace: "owners",
				Owner:     store.Owner{Kind: tc.kind, Name: "web", UID: "0b7e7c43-5c1d-4f7e-9d5e-" + strings.ToLower(tc.kind), Revision: "5d8f"},
				Image:     "registry.example/team/app:1.0",
			}
			// Two images of the revision: one object, the second image
			// added with a patch that keeps the labels and owner.
			k2 := k
			k2.Image = "registry.example/mesh/proxy:2.1"
			for _, pin := range []struct {
				key store.RevisionKey
				d   digest.Digest
			}{{k, storetest.Digest("x")}, {k2, storetest.Digest("y")}} {
				if _, err := s.PinRevision(t.Context(), pin.key, pin.d); err != nil {
					t.Fatal(err)
				}
			}
			var p kubestore.RevisionPin
			if err := env.Client.Get(t.Context(), types.NamespacedName{Namespace: "owners", Name: kubestore.RevisionObjectName(k.Owner)}, &p); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p.Name, "web-") {
				t.Errorf("RevisionPin name %q: want the readable prefix web-", p.Name)
			}
			f := false
			want := []metav1.OwnerReference{{APIVersion: tc.apiVersion, Kind: tc.kind, Name: "web", UID: types.UID(k.Owner.UID), Controller: &f, BlockOwnerDeletion: &f}}
			if diff := cmp.Diff(want, p.OwnerReferences); diff != "" {
				t.Errorf("ownerReferences (-want +got):\n%s", diff)
			}
			if p.Labels[kubestore.LabelOwnerUID] != k.Owner.UID {
				t.Errorf("label %s = %q, want %q", kubestore.LabelOwnerUID, p.Labels[kubestore.LabelOwnerUID], k.Owner.UID)
			}
			wantPin := kubestore.RevisionPin{
				Owner:      kubestore.PinOwner{Kind: tc.kind, Name: "web", UID: k.Owner.UID, Revision: "5d8f"},
				ImageCount: 2,
				Images: []kubestore.PinnedImage{
					{Image: k.Image, Digest: string(storetest.Digest("x"))},
					{Image: k2.Image, Digest: string(storetest.Digest("y"))},
				},
			}
			gotPin := kubestore.RevisionPin{Owner: p.Owner, ImageCount: p.ImageCount, Images: p.Images, Image: p.Image, Digest: p.Digest}
			if diff := cmp.Diff(wantPin, gotPin); diff != "" {
				t.Errorf("RevisionPin fields (-want +got):\n%s", diff)
			}
		})
	}

	unknown := store.RevisionKey{Namespace: "owners", Owner: store.Owner{Kind: "Deployment", Name: "web", UID: "u"}, Image: "app"}
	if _, err := s.PinRevision(t.Context(), unknown, storetest.Digest("x")); err == nil || !strings.Contains(err.Error(), `owner kind "Deployment"`) {
		t.Errorf("PinRevision with a Deployment owner: err = %v, want one naming the kind", err)
	}
}

// TestUpdatesKeepMetadata checks that moving a tag keeps the labels
// and annotations others put on its record: the cache holds slimmed
// objects, and an update writes back the metadata it holds.
func TestUpdatesKeepMetadata(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	s := open(t, env.Config)
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	scoped := storetest.Key("labelled", "1")
	scoped.Scope = "team-a"
	for _, key := range []store.TagKey{storetest.Key("labelled", "1"), scoped} {
		t.Run("scope "+string(key.Scope), func(t *testing.T) {
			if _, err := s.Observe(t.Context(), key, storetest.Digest("a"), at, store.SourceCLI); err != nil {
				t.Fatal(err)
			}
			obj := tagObjectOf(key)
			patch := []byte(`{"metadata":{"labels":{"team":"a"},"annotations":{"note":"keep me"}}}`)
			if err := env.Client.Patch(t.Context(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Observe(t.Context(), key, storetest.Digest("b"), at.Add(time.Hour), store.SourceCLI); err != nil {
				t.Fatal(err)
			}
			if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Fatal(err)
			}
			want := map[string]map[string]string{
				"labels":      {kubestore.LabelManagedBy: "tagpin", "team": "a"},
				"annotations": {"note": "keep me"},
			}
			got := map[string]map[string]string{"labels": obj.GetLabels(), "annotations": obj.GetAnnotations()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metadata after a move (-want +got):\n%s", diff)
			}
			if got, err := s.Tag(t.Context(), key); err != nil || got.Current() != storetest.Digest("b") {
				t.Errorf("Tag after the move = %v, %v; want current %s", got, err, storetest.Digest("b"))
			}
		})
	}
}

// tagObjectOf is an empty object named for key's record.
func tagObjectOf(key store.TagKey) client.Object {
	meta := metav1.ObjectMeta{Name: kubestore.TagObjectName(key)}
	if key.Scope == store.Public {
		return &kubestore.ClusterImageTag{ObjectMeta: meta}
	}
	meta.Namespace = string(key.Scope)
	return &kubestore.ImageTag{ObjectMeta: meta}
}

// TestPrinterColumns checks the columns kubectl get shows, as the API
// server renders them.
func TestPrinterColumns(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	s := open(t, env.Config)
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, scope := range []store.Scope{store.Public, "team-a"} {
		key := storetest.Key("app", "latest")
		key.Scope = scope
		for i, d := range []string{"a", "b"} {
			if _, err := s.Observe(t.Context(), key, storetest.Digest(d), at.Add(time.Duration(i)*time.Minute), store.SourceCLI); err != nil {
				t.Fatal(err)
			}
		}
	}
	owner := store.Owner{Kind: "ReplicaSet", Name: "web-5d8f", UID: "uid-columns"}
	if _, err := s.PinRevision(t.Context(), store.RevisionKey{Namespace: "team-a", Owner: owner, Image: "app:1"}, storetest.Digest("p")); err != nil {
		t.Fatal(err)
	}

	// The API server shows dates as ages ("21d"): their cells are only
	// checked to be set.
	const age = "<age>"
	tagColumns := []string{"Name:string", "Image:string", "Digest:string", "Last Verified:date", "Moves:integer", "Age:date"}
	tagRow := []any{"registry.example/app:latest", string(storetest.Digest("b")), age, 2.0, age}
	tests := []struct {
		path string
		want []string // name:type
		row  []any    // the cells after the name
	}{
		{"/apis/tagpin.dev/v1alpha1/clusterimagetags", tagColumns, tagRow},
		{"/apis/tagpin.dev/v1alpha1/namespaces/team-a/imagetags", tagColumns, tagRow},
		{
			"/apis/tagpin.dev/v1alpha1/namespaces/team-a/revisionpins",
			[]string{"Name:string", "Owner Kind:string", "Owner:string", "Images:integer", "Revision:string", "Age:date"},
			[]any{"ReplicaSet", "web-5d8f", 1.0, nil, age},
		},
	}
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, strings.TrimSuffix(env.Config.Host, "/")+tc.path, http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s %v\n%s", tc.path, resp.Status, err, body)
			}
			var table metav1.Table
			if err := json.Unmarshal(body, &table); err != nil {
				t.Fatal(err)
			}
			var columns []string
			for _, c := range table.ColumnDefinitions {
				columns = append(columns, c.Name+":"+c.Type)
			}
			if diff := cmp.Diff(tc.want, columns); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(table.Rows))
			}
			cells := table.Rows[0].Cells
			if len(cells) != len(tc.want) {
				t.Fatalf("row %v: %d cells, want %d", cells, len(cells), len(tc.want))
			}
			got := slices.Clone(cells[1:])
			for i, want := range tc.row {
				if s, ok := got[i].(string); ok && want == age && s != "" {
					got[i] = age
				}
			}
			if diff := cmp.Diff(tc.row, got); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCRDs checks the API that config/crd (generated by make generate
// from the markers of types.go) declares: kinds, names, scope, version
// and printer columns.
func TestCRDs(t *testing.T) {
	t.Parallel()
	tagColumns := []string{"Image", "Digest", "Last Verified", "Moves", "Age"}
	tests := []struct {
		file    string
		want    apiextensionsv1.CustomResourceDefinitionNames
		scope   apiextensionsv1.ResourceScope
		columns []string
	}{
		{
			file: "tagpin.dev_clusterimagetags.yaml",
			want: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: kubestore.ResourceClusterImageTags, Singular: "clusterimagetag", Kind: "ClusterImageTag", ListKind: "ClusterImageTagList",
				ShortNames: []string{"cit"}, Categories: []string{"tagpin"},
			},
			scope:   apiextensionsv1.ClusterScoped,
			columns: tagColumns,
		},
		{
			file: "tagpin.dev_imagetags.yaml",
			want: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: kubestore.ResourceImageTags, Singular: "imagetag", Kind: "ImageTag", ListKind: "ImageTagList",
				ShortNames: []string{"it"}, Categories: []string{"tagpin"},
			},
			scope:   apiextensionsv1.NamespaceScoped,
			columns: tagColumns,
		},
		{
			file: "tagpin.dev_revisionpins.yaml",
			want: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: kubestore.ResourceRevisionPins, Singular: "revisionpin", Kind: "RevisionPin", ListKind: "RevisionPinList",
				ShortNames: []string{"rp"}, Categories: []string{"tagpin"},
			},
			scope:   apiextensionsv1.NamespaceScoped,
			columns: []string{"Owner Kind", "Owner", "Images", "Revision", "Age"},
		},
	}
	dir := filepath.Join("..", "..", "..", "config", "crd")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var gotFiles, wantFiles []string
	for _, f := range files {
		gotFiles = append(gotFiles, filepath.Base(f))
	}
	for _, tc := range tests {
		wantFiles = append(wantFiles, tc.file)
	}
	if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
		t.Errorf("files of config/crd (-want +got):\n%s", diff)
	}
	for _, tc := range tests {
		t.Run(tc.want.Kind, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var c apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict(raw, &c); err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			if c.Name != tc.want.Plural+"."+kubestore.Group || c.Spec.Group != kubestore.Group {
				t.Errorf("name %s, group %s; want %s.%s, %[4]s", c.Name, c.Spec.Group, tc.want.Plural, kubestore.Group)
			}
			if diff := cmp.Diff(tc.want, c.Spec.Names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if c.Spec.Scope != tc.scope {
				t.Errorf("scope %s, want %s", c.Spec.Scope, tc.scope)
			}
			if len(c.Spec.Versions) != 1 || c.Spec.Versions[0].Name != kubestore.Version || !c.Spec.Versions[0].Served || !c.Spec.Versions[0].Storage {
				t.Fatalf("versions %+v, want only %s, served and stored", c.Spec.Versions, kubestore.Version)
			}
			v := c.Spec.Versions[0]
			var columns []string
			for _, col := range v.AdditionalPrinterColumns {
				columns = append(columns, col.Name)
			}
			if diff := cmp.Diff(tc.columns, columns); diff != "" {
				t.Errorf("printer columns (-want +got):\n%s", diff)
			}
			if sr := v.Subresources; sr != nil && (sr.Status != nil || sr.Scale != nil) {
				t.Errorf("subresources %+v: records have no status and no scale", sr)
			}
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil || v.Schema.OpenAPIV3Schema.Properties["spec"].Type != "" {
				t.Errorf("schema %+v: want one, with the record's fields at the top level (no spec)", v.Schema)
			}
		})
	}
}

// TestSchemaRejects checks that the API server, through the CRDs'
// schemas, refuses malformed records and accepts well-formed ones.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	env := shared.Get(t)
	now := metav1.NewTime(time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC))
	good := storetest.Digest("schema").String()
	tag := func(name string, edit func(*kubestore.TagRecord)) *kubestore.ImageTag {
		it := &kubestore.ImageTag{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			TagRecord: kubestore.TagRecord{
				Image: "registry.example/app:1", Registry: "registry.example", Repository: "app", Tag: "1",
				Digest: good, LastVerified: now, Moves: 1,
				History: []kubestore.TagMove{{Digest: good, FirstSeen: metav1.NewMicroTime(now.Time), LastSeen: metav1.NewMicroTime(now.Time), Source: "cli"}},
			},
		}
		edit(&it.TagRecord)
		return it
	}
	pin := func(name string, edit func(*kubestore.RevisionPin)) *kubestore.RevisionPin {
		p := &kubestore.RevisionPin{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Owner:      kubestore.PinOwner{Kind: "ReplicaSet", Name: "web-1", UID: "uid-schema"},
			ImageCount: 1, Images: []kubestore.PinnedImage{{Image: "app:1", Digest: good}},
		}
		edit(p)
		return p
	}
	tests := []struct {
		name  string
		obj   client.Object
		valid bool
	}{
		{"tag", tag("schema-ok", func(*kubestore.TagRecord) {}), true},
		{"tag with an empty registry", tag("schema-registry", func(r *kubestore.TagRecord) { r.Registry = "" }), false},
		{"tag with an empty repository", tag("schema-repository", func(r *kubestore.TagRecord) { r.Repository = "" }), false},
		{"tag with an empty tag", tag("schema-tag", func(r *kubestore.TagRecord) { r.Tag = "" }), false},
		{"tag with a malformed digest", tag("schema-digest", func(r *kubestore.TagRecord) { r.Digest = "latest" }), false},
		{"tag with no moves", tag("schema-moves", func(r *kubestore.TagRecord) { r.Moves = 0 }), false},
		{"tag with no history", tag("schema-history", func(r *kubestore.TagRecord) { r.History = nil }), false},
		{"tag whose move has a malformed digest", tag("schema-move-digest", func(r *kubestore.TagRecord) { r.History[0].Digest = "sha256" }), false},
		{"pin", pin("schema-ok", func(*kubestore.RevisionPin) {}), true},
		{"pin with an empty image", pin("schema-image", func(p *kubestore.RevisionPin) { p.Images[0].Image = "" }), false},
		{"pin with a malformed digest", pin("schema-digest", func(p *kubestore.RevisionPin) { p.Images[0].Digest = "sha256:" }), false},
		{"pin with an image twice", pin("schema-twice", func(p *kubestore.RevisionPin) {
			p.Images = append(p.Images, kubestore.PinnedImage{Image: "app:1", Digest: storetest.Digest("other").String()})
		}), false},
		{"pin of the earlier shape", pin("schema-earlier", func(p *kubestore.RevisionPin) { p.Images, p.Image, p.Digest = nil, "app:1", good }), true},
		{"pin of the earlier shape with a malformed digest", pin("schema-earlier-digest", func(p *kubestore.RevisionPin) { p.Images, p.Image, p.Digest = nil, "app:1", "sha256" }), false},
		{"pin with an owner of no UID", pin("schema-uid", func(p *kubestore.RevisionPin) { p.Owner.UID = "" }), false},
		{"pin with an owner of no kind", pin("schema-kind", func(p *kubestore.RevisionPin) { p.Owner.Kind = "" }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(t.Context(), tc.obj, client.DryRunAll)
			switch {
			case tc.valid && err != nil:
				t.Errorf("creating it: %v", err)
			case !tc.valid && !apierrors.IsInvalid(err):
				t.Errorf("creating it: err = %v, want the API server's Invalid", err)
			}
		})
	}
}

func TestObjectNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("very-long-path-segment/", 20)
	tags := []store.TagKey{
		{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27"},
		{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27.0"},
		{Registry: "ghcr.io", Repository: "library/nginx", Tag: "1.27"},
		{Registry: "localhost:5000", Repository: "Team/App__X", Tag: "V1_2-RC.3"},
		{Registry: "r.example", Repository: long + "app", Tag: strings.Repeat("t", 128)},
		{Registry: "r.example", Repository: "---", Tag: "___"},
		{Registry: "r.example", Repository: "a/b", Tag: "c"},
		{Registry: "r.example", Repository: "a", Tag: "b-c"},
	}
	seen := map[string]string{}
	for _, k := range tags {
		name := kubestore.TagObjectName(k)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || len(name) > 57 {
			t.Errorf("TagObjectName(%s) = %q (%d characters): %v", k, name, len(name), errs)
		}
		if name != kubestore.TagObjectName(k) {
			t.Errorf("TagObjectName(%s) is not deterministic", k)
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("TagObjectName(%s) = TagObjectName(%s) = %q", k, prev, name)
		}
		seen[name] = k.String()
	}
	rk := revKey("ns", "uid-1", "registry.example/team/app:1.0").Owner
	variants := []store.Owner{rk}
	for _, f := range []func(o *store.Owner){
		func(o *store.Owner) { o.UID = "uid-2" },
		func(o *store.Owner) { o.Kind = "Job" },
		func(o *store.Owner) { o.Revision = "5d8f" },
		func(o *store.Owner) { o.Name = strings.Repeat("x", 253) },
	} {
		k := rk
		f(&k)
		variants = append(variants, k)
	}
	for _, k := range variants {
		name := kubestore.RevisionObjectName(k)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || len(name) > 57 {
			t.Errorf("RevisionObjectName(%+v) = %q (%d characters): %v", k, name, len(name), errs)
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("RevisionObjectName(%+v) = the name of %s: %q", k, prev, name)
		}
		seen[name] = fmt.Sprintf("%+v", k)
	}
	// Owner.Name is informative: it changes the readable prefix only.
	a, b := kubestore.RevisionObjectName(rk), kubestore.RevisionObjectName(variants[len(variants)-1])
	if a[len(a)-16:] != b[len(b)-16:] {
		t.Errorf("the owner's name changed the hash of the key: %s, %s", a, b)
	}
}

// TestPermissions checks that missing RBAC permissions fail with errors
// that say which ones.
func TestPermissions(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	// A record the readers will want to move.
	admin := open(t, env.Config)
	tag := storetest.Key("app", "rbac")
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if _, err := admin.Observe(t.Context(), tag, storetest.Digest("a"), at, store.SourceCLI); err != nil {
		t.Fatal(err)
	}

	nobody, err := env.AddUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubestore.New(t.Context(), nobody); err == nil {
		t.Error("New as a user with no permissions: no error")
	} else if msg := err.Error(); !strings.Contains(msg, "RBAC") || !strings.Contains(msg, `"list" on clusterimagetags.tagpin.dev`) {
		t.Errorf("New as a user with no permissions: error %q does not say which permission is missing", msg)
	}

	// A user who may read but not write.
	grant(t, env, "tagpin-test-reader", "reader", []string{"get", "list", "watch"})
	readerCfg, err := env.AddUser("reader")
	if err != nil {
		t.Fatal(err)
	}
	var reader *kubestore.Store
	var lastErr error
	// RBAC may lag the binding: retry until the deadline.
	if err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		reader, lastErr = kubestore.New(ctx, readerCfg)
		return lastErr == nil, nil
	}); err != nil {
		t.Fatalf("New as a user who may read: %v (last: %v)", err, lastErr)
	}
	t.Cleanup(func() { _ = reader.Close() })

	tests := []struct {
		name string
		call func(ctx context.Context) error
		want string
	}{
		{"new tag", func(ctx context.Context) error {
			_, err := reader.Observe(ctx, storetest.Key("app", "new"), storetest.Digest("a"), at, store.SourceCLI)
			return err
		}, `"create" on clusterimagetags.tagpin.dev`},
		{"moved tag", func(ctx context.Context) error {
			_, err := reader.Observe(ctx, tag, storetest.Digest("b"), at.Add(time.Minute), store.SourceCLI)
			return err
		}, `"update" on clusterimagetags.tagpin.dev`},
		{"namespaced tag", func(ctx context.Context) error {
			key := storetest.Key("app", "new")
			key.Scope = "team-a"
			_, err := reader.Observe(ctx, key, storetest.Digest("a"), at, store.SourceCLI)
			return err
		}, `"create" on imagetags.tagpin.dev`},
		{"revision pin", func(ctx context.Context) error {
			_, err := reader.PinRevision(ctx, revKey("ns", "uid-rbac", "app:1"), storetest.Digest("a"))
			return err
		}, `"create" on revisionpins.tagpin.dev`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			if !apierrors.IsForbidden(err) {
				t.Errorf("error %v does not wrap the API server's Forbidden", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "RBAC") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name RBAC and %s", msg, tc.want)
			}
		})
	}
	// Reading works.
	if got, err := reader.Tag(t.Context(), tag); err != nil || got.Current() != storetest.Digest("a") {
		t.Errorf("Tag as reader = %v, %v; want %s", got, err, storetest.Digest("a"))
	}
}

// grant binds a ClusterRole with verbs on the three resources to user.
func grant(t *testing.T, env *controlplanetest.ControlPlane, role, user string, verbs []string) {
	t.Helper()
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{kubestore.Group},
			Resources: []string{kubestore.ResourceClusterImageTags, kubestore.ResourceImageTags, kubestore.ResourceRevisionPins},
			Verbs:     verbs,
		}},
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	for _, obj := range []client.Object{cr, crb} {
		if err := env.Client.Create(t.Context(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// TestUnreachable checks the error when the API server does not answer.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	env := shared.Get(t)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://127.0.0.1:1" // nothing listens on port 1
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := kubestore.New(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("New with an API server that does not answer: err = %v, want one that says it is unreachable", err)
	}
}

// TestGarbageCollection checks that Kubernetes deletes a revision pin
// with its owner, through the pin's ownerReference.
func TestGarbageCollection(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	s := open(t, env.Config)
	labels := map[string]string{"app": "gc"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "owners"},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
	if err := env.Client.Create(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	k := store.RevisionKey{Namespace: "owners", Owner: store.Owner{Kind: "ReplicaSet", Name: rs.Name, UID: string(rs.UID)}, Image: "app:1"}
	if _, err := s.PinRevision(t.Context(), k, storetest.Digest("gc")); err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(t.TempDir(), "kube-controller-manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := env.StartControllerManager(t.Context(), logFile, "garbagecollector")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
		_ = logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("kube-controller-manager:\n%s", out[max(0, len(out)-4000):])
		}
	}()

	if err := env.Client.Delete(t.Context(), rs, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "garbage collection deletes the pin of the deleted ReplicaSet", func(ctx context.Context) (bool, error) {
		_, err := s.Revision(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return true, nil
		}
		return false, err
	})
}
