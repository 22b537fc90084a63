package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubeAPIRateLimit: the webhook's client gets --kube-api-qps and
// --kube-api-burst, not client-go's default of 5 a second; values that
// would stop it are refused.
func TestKubeAPIRateLimit(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: tagpin}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	f := webhookFlags{kubeconfig: kubeconfig, namespace: "tagpin", kubeAPIQPS: 50, kubeAPIBurst: 100}
	cfg, _ := f.cluster()
	if cfg == nil || cfg.QPS != 50 || cfg.Burst != 100 {
		t.Fatalf("rest config %+v; want QPS 50, burst 100", cfg)
	}
	for _, bad := range []webhookFlags{{kubeconfig: kubeconfig, kubeAPIQPS: 0, kubeAPIBurst: 100}, {kubeconfig: kubeconfig, kubeAPIQPS: 5, kubeAPIBurst: -1}} {
		if _, err := bad.cluster(); err == nil || !strings.Contains(err.Error(), "--kube-api-qps") {
			t.Errorf("QPS %v, burst %d: err = %v, want a refusal naming the flags", bad.kubeAPIQPS, bad.kubeAPIBurst, err)
		}
	}
}
