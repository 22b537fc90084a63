package cli_test

import (
	"strings"
	"testing"
)

// TestWebhookRefreshFlags: values the background refresher cannot run
// with are refused before anything starts, naming the flag.
func TestWebhookRefreshFlags(t *testing.T) {
	for _, tc := range []struct {
		arg, flag string
	}{
		{"--refresh-interval=-1s", "--refresh-interval"},
		{"--refresh-window=-1h", "--refresh-window"},
		{"--gc-check-interval=-1m", "--gc-check-interval"},
		{"--refresh-rate=0", "--refresh-rate"},
		{"--refresh-rate=-2", "--refresh-rate"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			_, errOut, code := tagpin(t, "", "webhook", "--log-format", "text", tc.arg)
			if code != 1 || !strings.HasPrefix(errOut, "Error: "+tc.flag) {
				t.Errorf("exit %d, stderr %q; want 1 and an error about %s", code, errOut, tc.flag)
			}
		})
	}
}
