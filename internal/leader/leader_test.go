package leader_test

import (
	"context"
	"os"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/leader"
)

var controlPlane controlplanetest.Shared

func TestMain(m *testing.M) {
	os.Exit(controlPlane.Run(context.Background(), m, nil))
}

// deadline bounds every wait; elections take a few retry periods.
const deadline = 30 * time.Second

// replica is one campaigner whose work reports when it starts and stops.
type replica struct {
	id      string
	started chan string
	stopped chan string
	cancel  context.CancelFunc
	done    chan error
}

func campaign(t *testing.T, client kubernetes.Interface, ns, id string, started, stopped chan string) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &replica{id: id, started: started, stopped: stopped, cancel: cancel, done: make(chan error, 1)}
	cfg := leader.Config{
		Namespace: ns, Name: "tagpin", Identity: id,
		LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond,
	}
	go func() {
		r.done <- leader.Run(ctx, client, cfg, func(ctx context.Context) {
			started <- id
			<-ctx.Done()
			stopped <- id
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the replica and waits for Run to return.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("%s: %v", r.id, err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(deadline):
		t.Fatalf("%s: Run did not return after its context was canceled", r.id)
	}
}

func receive(t *testing.T, what string, c chan string) string {
	t.Helper()
	select {
	case id := <-c:
		return id
	case <-time.After(deadline):
		t.Fatalf("waiting for %s: gave up after %s", what, deadline)
		return ""
	}
}

func setup(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	cp := controlPlane.Get(t)
	client, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "leader-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return client, ns.Name
}

// TestHandover: of two replicas one works; when it stops (SIGTERM), its
// work ends before the Lease is released, and the other takes over.
func TestHandover(t *testing.T) {
	t.Parallel()
	client, ns := setup(t)
	started, stopped := make(chan string, 4), make(chan string, 4)
	replicas := map[string]*replica{
		"a": campaign(t, client, ns, "a", started, stopped),
		"b": campaign(t, client, ns, "b", started, stopped),
	}
	first := receive(t, "a leader", started)
	select {
	case id := <-started:
		t.Fatalf("%s works while %s leads", id, first)
	default:
	}
	lease, err := client.CoordinationV1().Leases(ns).Get(t.Context(), "tagpin", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(lease.Spec.HolderIdentity, ""); got != first {
		t.Errorf("lease held by %q, want %q", got, first)
	}
	replicas[first].stop(t)
	if got := receive(t, "the leader's work to stop", stopped); got != first {
		t.Errorf("%s stopped, want %s", got, first)
	}
	second := receive(t, "the other replica to take over", started)
	if second == first {
		t.Errorf("%s leads again after it stopped", second)
	}
}

// TestLostLeaseStopsAndResumes: a leader that cannot renew (another
// holder took the Lease) stops its work, and starts it again once it
// wins the Lease back, without Run returning.
func TestLostLeaseStopsAndResumes(t *testing.T) {
	t.Parallel()
	client, ns := setup(t)
	started, stopped := make(chan string, 4), make(chan string, 4)
	campaign(t, client, ns, "a", started, stopped)
	receive(t, "a to lead", started)

	// An intruder takes the Lease for 3 s.
	leases := client.CoordinationV1().Leases(ns)
	end := time.Now().Add(deadline)
	for {
		if time.Now().After(end) {
			t.Fatal("could not take the lease over: every update conflicted")
		}
		lease, err := leases.Get(t.Context(), "tagpin", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		lease.Spec = coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("intruder"), LeaseDurationSeconds: ptr.To[int32](3),
			AcquireTime: &metav1.MicroTime{Time: time.Now()}, RenewTime: &metav1.MicroTime{Time: time.Now()},
		}
		if _, err := leases.Update(t.Context(), lease, metav1.UpdateOptions{}); err == nil {
			break
		}
		// A renewal came between: try again.
	}
	receive(t, "a's work to stop once it cannot renew", stopped)
	receive(t, "a to lead again after the intruder's lease expired", started)
}
