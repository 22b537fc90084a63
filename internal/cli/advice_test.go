package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagpin/tagpin/internal/registrytest"
)

// TestErrorsSayWhatToDo checks the CLI's advice on real failures, for
// tagpin resolve and for tagpin pin's report.
func TestErrorsSayWhatToDo(t *testing.T) {
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1.0")
	private := registrytest.New(t, registrytest.WithTokenAuth("alice", "s3cret"))
	private.PushImage(t, "app:1.0")
	hanging := registrytest.New(t)
	hanging.SetFault(registrytest.Hang)
	// A registry that redirects to reg, which is not allowed.
	redirect := httptest.NewServer(http.RedirectHandler("http://"+reg.Addr()+"/v2/app/manifests/1.0", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	redirectAddr := strings.TrimPrefix(redirect.URL, "http://")

	tests := []struct {
		name  string
		flags []string
		ref   string
		say   string
	}{
		{"unknown tag", regFlags(reg), reg.Ref("app:2.0"), "check the repository name and tag"},
		{"no credentials", regFlags(private), private.Ref("app:1.0"), "docker login " + private.Addr()},
		{"deadline", append(regFlags(hanging), "--timeout", "200ms"), hanging.Ref("app:1.0"), "raise --timeout"},
		{"blocked redirect names its target", []string{"--allow-registry", redirectAddr, "--insecure-registry", redirectAddr, "--insecure-registry", reg.Addr()},
			redirectAddr + "/app:1.0", "allow it with --allow-registry " + reg.Addr()},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/resolve", func(t *testing.T) {
			_, errOut, code := tagpin(t, "", append([]string{"resolve", tc.ref}, tc.flags...)...)
			if code != 1 || !strings.Contains(errOut, tc.say) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tc.say)
			}
		})
		t.Run(tc.name+"/pin", func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "pod.yaml")
			if err := os.WriteFile(file, []byte("image: "+tc.ref+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := tagpin(t, "", append([]string{"pin", file}, tc.flags...)...)
			if code != 1 || !strings.Contains(errOut, tc.say) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tc.say)
			}
		})
	}
}
