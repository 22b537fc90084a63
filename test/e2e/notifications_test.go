package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/registrytest"
)

// TestNotificationsEndpoint runs tagpin webhook with its notifications
// endpoint on, over TLS with the serving certificate: a push reported by
// a registry is confirmed and recorded with source notification, no pod
// involved; a sender without the token is refused.
func TestNotificationsEndpoint(t *testing.T) {
	needCluster(t)
	reg := registrytest.New(t)
	first := reg.PushImage(t, "team/app:1.0")
	certDir := filepath.Join(t.TempDir(), "certs")
	ca := certtest.Write(t, certDir)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("n0tify\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	storeFile := filepath.Join(t.TempDir(), "store.db")
	notifyAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w := startWebhook(t, certDir, "--store", "bolt:"+storeFile,
		"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(),
		"--notifications-bind-address", notifyAddr, "--notifications-tls", "--notifications-token-file", tokenFile,
		"--metrics-bind-address", metricsAddr)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	post := func(token, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+notifyAddr+"/notifications/generic", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		waitFor(t, "the notifications endpoint", func() (bool, error) {
			conn, err := tls.Dial("tcp", notifyAddr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
			if err == nil {
				conn.Close()
			}
			return err == nil, err
		})
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	event := func() string {
		b, _ := json.Marshal(map[string]string{"registry": reg.Addr(), "repository": "team/app", "tag": "1.0"})
		return string(b)
	}
	confirmed := func(n int) func() (bool, error) {
		return func() (bool, error) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
			if err != nil {
				return false, err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return bytes.Contains(b, fmt.Appendf(nil, `tagpin_notifications_total{result="confirmed",sender=""} %d`+"\n", n)), err
		}
	}

	if code := post("wrong", event()); code != http.StatusUnauthorized {
		t.Errorf("a wrong token: status %d, want 401", code)
	}
	if code := post("n0tify", event()); code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	waitFor(t, "the first event to be confirmed", confirmed(1))
	second := reg.PushImage(t, "team/app:1.0") // the tag moves, and the registry says so
	if code := post("n0tify", event()); code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	waitFor(t, "the second event to be confirmed", confirmed(2))
	w.stop() // releases the store file

	out, err := exec.CommandContext(t.Context(), shared.bin, "history", "--store", storeFile, "--full", "-o", "json", reg.Ref("team/app:1.0")).CombinedOutput()
	if err != nil {
		t.Fatalf("tagpin history: %v\n%s", err, out)
	}
	var history struct {
		History []struct{ Digest, Source string } `json:"history"`
	}
	if err := json.Unmarshal(out, &history); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(history.History) != 2 || history.History[0].Digest != second.String() || history.History[1].Digest != first.String() ||
		history.History[0].Source != "notification" || history.History[1].Source != "notification" {
		t.Errorf("history = %+v, want %s then %s, both from notifications", history.History, second, first)
	}
}

// TestDistributionNotifiesWebhook: the real Distribution server, set up
// with a notifications endpoint pointing at tagpin webhook, pushes twice
// to one tag; tagpin history shows both digests, learned from the
// notifications, with no pod and no CLI resolution involved.
func TestDistributionNotifiesWebhook(t *testing.T) {
	needCluster(t)
	ns := shared.namespace(t, "notify")
	certDir := filepath.Join(t.TempDir(), "certs")
	certtest.Write(t, certDir)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("d1str1but10n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notifyAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	reg := registrytest.StartDistribution(t, registrytest.DistributionOptions{
		Notifications: []registrytest.NotificationEndpoint{{
			URL:     "http://" + notifyAddr + "/notifications/distribution",
			Headers: map[string]string{"Authorization": "Bearer d1str1but10n"},
		}},
	})
	startWebhook(t, certDir, "--kubeconfig", shared.kubeconfig, "--store", "kubernetes", "--namespace", ns,
		"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(),
		"--notifications-bind-address", notifyAddr, "--notifications-token-file", tokenFile)

	// The records are the cluster's: read them while the webhook runs.
	var last []struct{ Digest, Source string }
	shows := func(want digest.Digest, moves int) func() (bool, error) {
		return func() (bool, error) {
			out, err := exec.CommandContext(t.Context(), shared.bin, "history", "--kubeconfig", shared.kubeconfig, "--full", "-o", "json", reg.Ref("team/app:1.0")).Output()
			if err != nil {
				return false, nil // not recorded yet
			}
			var h struct {
				History []struct{ Digest, Source string } `json:"history"`
			}
			if err := json.Unmarshal(out, &h); err != nil {
				return false, err
			}
			last = h.History
			return len(h.History) == moves && h.History[0].Digest == want.String(), nil
		}
	}
	first := push(t, reg.Addr(), "team/app:1.0", nil)
	waitFor(t, "the first push in tagpin history", shows(first, 1))
	second := push(t, reg.Addr(), "team/app:1.0", nil)
	waitFor(t, "the second push in tagpin history", shows(second, 2))
	for i, m := range last {
		if m.Source != "notification" {
			t.Errorf("history[%d] = %+v, want source notification", i, m)
		}
	}
	if last[1].Digest != first.String() {
		t.Errorf("history[1] = %+v, want the first push %s", last[1], first)
	}
}
