package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// TestRefreshOnTheLeader runs two webhook replicas with the kubernetes
// store, --leader-elect and a 1s --refresh-interval: a tag that moves is
// recorded with source refresh with no pod admitted, only the leader
// refreshes, and when it is killed the other replica takes over.
func TestRefreshOnTheLeader(t *testing.T) {
	needCluster(t)
	reg := registrytest.New(t)
	ref := reg.Ref("refresh/app:1")
	first := reg.PushImage(t, "refresh/app:1")
	parsed, err := imageref.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	// What an admission would have recorded.
	st, err := kubestore.New(t.Context(), shared.cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := store.TagKey{Registry: parsed.Domain, Repository: parsed.Path, Tag: parsed.Tag}
	if _, err := st.Observe(t.Context(), key, first, time.Now(), store.SourceAdmission); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ns := shared.namespace(t, "refresh")
	certDir := filepath.Join(t.TempDir(), "certs")
	certtest.Write(t, certDir)
	var replicas []*webhookProc
	var metrics []string
	for range 2 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		w := startWebhook(t, certDir,
			"--kubeconfig", shared.kubeconfig, "--store", "kubernetes", "--namespace", ns,
			"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(),
			"--leader-elect", "--leader-election-id", "tagpin-refresh",
			"--leader-election-lease-duration", "3s", "--leader-election-renew-deadline", "2s", "--leader-election-retry-period", "200ms",
			"--refresh-interval", "1s", "--gc-check-interval", "0",
			// The base arguments disable metrics; the last flag wins.
			"--metrics-bind-address", addr)
		replicas, metrics = append(replicas, w), append(metrics, addr)
	}

	// One replica leads and refreshes; the other does not.
	lead := -1
	waitFor(t, "a replica to refresh", func() (bool, error) {
		for i, addr := range metrics {
			n, err := refreshRounds(t, addr)
			if err != nil {
				return false, err
			}
			if n > 0 {
				lead = i
				return true, nil
			}
		}
		return false, nil
	})
	follower := 1 - lead

	second := reg.PushImage(t, "refresh/app:1") // the tag moves; no pod asks for it
	waitFor(t, "the move to be recorded by the refresh", func() (bool, error) {
		h, err := kubeHistory(t, ref)
		return err == nil && len(h) == 2 && h[0].Digest == second.String() && h[0].Source == "refresh", err
	})
	if h, _ := kubeHistory(t, ref); h[1].Digest != first.String() || h[1].Source != "admission" {
		t.Errorf("history = %+v, want %s from refresh, then %s from admission", h, second, first)
	}
	if n, err := refreshRounds(t, metrics[follower]); err != nil || n != 0 {
		t.Errorf("the follower ran %v refresh rounds (%v), want 0", n, err)
	}

	// The leader dies without releasing the Lease: the follower takes
	// over once it expires, and refreshes.
	replicas[lead].stop()
	third := reg.PushImage(t, "refresh/app:1")
	waitFor(t, "the new leader to record the move", func() (bool, error) {
		h, err := kubeHistory(t, ref)
		return err == nil && len(h) == 3 && h[0].Digest == third.String() && h[0].Source == "refresh", err
	})
	if n, err := refreshRounds(t, metrics[follower]); err != nil || n == 0 {
		t.Errorf("the new leader ran %v refresh rounds (%v), want some", n, err)
	}
}

var refreshRoundsMetric = regexp.MustCompile(`(?m)^tagpin_refresh_rounds_total\{kind="refresh"\} (\S+)$`)

// refreshRounds reads tagpin_refresh_rounds_total{kind="refresh"}.
func refreshRounds(t *testing.T, addr string) (float64, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := refreshRoundsMetric.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no tagpin_refresh_rounds_total in the metrics of %s", addr)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

type historyMove struct{ Digest, Source string }

// kubeHistory runs tagpin history against the cluster's records.
func kubeHistory(t *testing.T, ref string) ([]historyMove, error) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), shared.bin, "history", "--kubeconfig", shared.kubeconfig, "--full", "-o", "json", ref).Output()
	if err != nil {
		return nil, fmt.Errorf("tagpin history: %w\n%s", err, out)
	}
	var h struct {
		History []historyMove `json:"history"`
	}
	if err := json.Unmarshal(out, &h); err != nil {
		return nil, fmt.Errorf("%w in %s", err, out)
	}
	return h.History, nil
}
