package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/registrytest"
)

// TestBoltPrunesPinsOfDeletedWorkloads: with the bolt store, the webhook
// removes the revision pins of ReplicaSets that no longer exist (the
// kubernetes store leaves that to garbage collection).
func TestBoltPrunesPinsOfDeletedWorkloads(t *testing.T) {
	needCluster(t)
	s := &suite{reg: registrytest.StartDistribution(t, registrytest.DistributionOptions{})}
	s.proxy = startFaultProxy(t, s.reg.Addr())
	certDir := filepath.Join(t.TempDir(), "certs")
	ca := certtest.Write(t, certDir)
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.args = []string{
		"--kubeconfig", shared.kubeconfig,
		"--store", "bolt:" + filepath.Join(t.TempDir(), "store.db"),
		"--allow-registry", s.proxy.addr(), "--insecure-registry", s.proxy.addr(),
		"--prune-interval", "200ms",
	}
	w := startWebhook(t, certDir, s.args...)
	// The base args disable metrics; the last flag wins.
	w.args = append(w.args, "--metrics-bind-address", metrics)
	w.restart()
	s.webhooks = []*webhookProc{w}
	registerWebhook(t, fmt.Sprintf("https://127.0.0.1:%d/mutate", w.port), ca)
	s.waitActive(t)

	ns := shared.namespace(t, "prune")
	d := s.push(t, "app:1")
	if _, err := shared.client.AppsV1().Deployments(ns).Create(t.Context(), deployment(ns, "web", s.ref("app:1"), 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allEqual(t, "the deployment's pod", podsOf(t, ns, "web", "1", 1), s.ref("app:1@"+d.String()))
	if got := pruned(t, metrics); got != 0 {
		t.Fatalf("%v pins pruned while the ReplicaSet exists, want 0", got)
	}

	if err := shared.client.AppsV1().Deployments(ns).Delete(t.Context(), "web", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pin of the deleted ReplicaSet to be pruned", func() (bool, error) {
		return pruned(t, metrics) >= 1, nil
	})
}

var prunedMetric = regexp.MustCompile(`(?m)^tagpin_revision_pins_pruned_total (\S+)$`)

// pruned reads tagpin_revision_pins_pruned_total from the metrics endpoint.
func pruned(t *testing.T, addr string) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := prunedMetric.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no tagpin_revision_pins_pruned_total in the metrics:\n%s", body)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
