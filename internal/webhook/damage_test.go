package webhook_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
	"github.com/tagpin/tagpin/internal/track"
	"github.com/tagpin/tagpin/internal/webhook"
)

// A damaged bolt store never crashes the webhook: with each page of a
// populated store overwritten in turn, every admission is answered (the
// image pinned from the registry, or left as is while the registry is
// down), and the store's failures are counted in
// tagpin_store_errors_total.
func TestDamagedBoltStore(t *testing.T) {
	reg := registrytest.New(t)
	const tags = 200
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	st, err := boltstore.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	d := reg.PushImage(t, "app:0")
	for i := range tags {
		key := store.TagKey{Registry: reg.Addr(), Repository: "app", Tag: fmt.Sprint(i)}
		if _, err := st.Observe(t.Context(), key, d, time.Now(), store.SourceAdmission); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			reg.Tag(t, "app:0", fmt.Sprint(i))
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	counted := 0
	for p := 2; p*page < len(content); p++ { // pages 0 and 1 are bbolt's meta pages
		damaged := append([]byte(nil), content...)
		clear(damaged[p*page : (p+1)*page])
		path := filepath.Join(dir, fmt.Sprintf("damaged-%d.db", p))
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := boltstore.Open(path)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("page %d: Open = %v, want an error wrapping store.ErrCorrupt", p, err)
			}
			continue
		}
		counted += admitOnDamagedStore(t, reg, st, p, tags)
		if err := st.Close(); err != nil && !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("page %d: Close = %v", p, err)
		}
	}
	if counted == 0 {
		t.Errorf("no damaged page made a store error the webhook counted; the test damaged nothing")
	}
}

// admitOnDamagedStore admits pods on st, with the registry up and down,
// and returns how many store errors the webhook counted.
func admitOnDamagedStore(t *testing.T, reg *registrytest.Registry, st store.Store, page, tags int) int {
	t.Helper()
	r := resolve.New(resolve.WithAllowRegistry(reg.Addr()), resolve.WithInsecureRegistry(reg.Addr()),
		resolve.WithKeychain(authn.NewMultiKeychain()), resolve.WithTimeout(time.Minute))
	defer r.Close()
	promReg := prometheus.NewRegistry()
	m := webhook.NewMetrics(promReg)
	h, err := webhook.NewHandler(webhook.DefaultConfig(), track.New(r, st, store.SourceAdmission), st, webhook.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{reg: reg, handler: h, metrics: promReg}
	for _, fault := range []registrytest.Fault{registrytest.NoFault, registrytest.Unavailable} {
		reg.SetFault(fault)
		for i := 0; i < tags; i += tags / 4 {
			resp, _ := e.admit(t, pod(fmt.Sprintf("rs-%d-%d", page, i), reg.Ref(fmt.Sprint("app:", i))))
			if !resp.Allowed {
				t.Errorf("page %d, fault %v, app:%d: denied: %v", page, fault, i, resp.Result)
			}
		}
	}
	reg.SetFault(registrytest.NoFault)
	n, err := testutil.GatherAndCount(promReg, "tagpin_store_errors_total")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return 0
	}
	total := 0.0
	mfs, _ := promReg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "tagpin_store_errors_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return int(total)
}
