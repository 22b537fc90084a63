package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagpin/tagpin/internal/certtest"
)

// TestProfilesServed: --pprof-bind-address serves Go's profiles, and
// the heap profile go tool pprof reads.
func TestProfilesServed(t *testing.T) {
	needCluster(t)
	certDir := filepath.Join(t.TempDir(), "certs")
	certtest.Write(t, certDir)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startWebhook(t, certDir, "--store", "bolt:"+filepath.Join(t.TempDir(), "store.db"), "--pprof-bind-address", addr)
	for path, want := range map[string]string{
		"/debug/pprof/":             "heap",
		"/debug/pprof/heap?debug=1": "heap profile:",
		"/debug/pprof/cmdline":      "--pprof-bind-address",
	} {
		var body string
		waitFor(t, "the profile server to answer "+path, func() (bool, error) {
			resp, err := http.Get("http://" + addr + path) //nolint:noctx // loopback, within waitFor's deadline
			if err != nil {
				return false, nil //nolint:nilerr // not listening yet
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				return false, fmt.Errorf("GET %s: status %d: %w", path, resp.StatusCode, err)
			}
			body = string(b)
			return true, nil
		})
		if !strings.Contains(body, want) {
			t.Errorf("GET %s does not mention %q:\n%.300s", path, want, body)
		}
	}
}
