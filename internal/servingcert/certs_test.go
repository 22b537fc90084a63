package servingcert_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/servingcert"
)

var hosts = servingcert.ServiceHosts("tagpin", "tagpin-system", "127.0.0.1")

func renew(t *testing.T, data map[string][]byte, h servingcert.Hosts, now time.Time) servingcert.Renewal {
	t.Helper()
	r, err := servingcert.Renew(data, h, now, servingcert.DefaultLifetimes())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func certs(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// verify checks that data's serving certificate is trusted by bundle for
// every host at now.
func verify(t *testing.T, cert, bundle []byte, now time.Time) error {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	leaf := certs(t, cert)[0]
	for _, h := range hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: now}); err != nil {
			return err
		}
	}
	return nil
}

func TestRenew(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := renew(t, nil, hosts, now)
	if first.Reason != servingcert.ReasonCreated {
		t.Fatalf("from nothing: reason %q, want %q", first.Reason, servingcert.ReasonCreated)
	}
	if err := verify(t, first.Data[servingcert.CertKey], first.Data[servingcert.CABundleKey], now); err != nil {
		t.Fatalf("the new certificate does not verify: %v", err)
	}
	certDue := certs(t, first.Data[servingcert.CertKey])[0].NotAfter.Add(-100 * 24 * time.Hour)
	if !first.Next.Before(certDue) || first.Next.Before(now.Add(200*24*time.Hour)) {
		t.Errorf("next check %s: want about two thirds into the certificate's year", first.Next)
	}
	caDue := now.Add(4 * 365 * 24 * time.Hour)

	for _, tc := range []struct {
		name       string
		data       map[string][]byte
		hosts      servingcert.Hosts
		now        time.Time
		want       servingcert.Reason
		sameCA     bool // the CA (and the bundle) are kept
		bundleSize int
	}{
		{"valid: kept as is", first.Data, hosts, now.Add(time.Hour), servingcert.ReasonNone, true, 1},
		{"certificate due: renewed, same CA", first.Data, hosts, now.Add(250 * 24 * time.Hour), servingcert.ReasonCert, true, 1},
		{"certificate expired: renewed", first.Data, hosts, now.Add(400 * 24 * time.Hour), servingcert.ReasonCert, true, 1},
		{"other hosts: renewed", first.Data, hosts[:2], now, servingcert.ReasonCert, true, 1},
		{"certificate missing: renewed", without(first.Data, servingcert.CertKey), hosts, now, servingcert.ReasonCert, true, 1},
		{"key of another certificate: renewed", with(first.Data, servingcert.KeyKey, first.Data[servingcert.CAKeyKey]), hosts, now, servingcert.ReasonCert, true, 1},
		{"CA due: new CA, old one kept in the bundle", first.Data, hosts, caDue, servingcert.ReasonCA, false, 2},
		{"CA key missing: created, old CA kept", without(first.Data, servingcert.CAKeyKey), hosts, now, servingcert.ReasonCreated, false, 2},
		{"garbage: created", map[string][]byte{servingcert.CABundleKey: []byte("x"), servingcert.CAKeyKey: []byte("y")}, hosts, now, servingcert.ReasonCreated, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := renew(t, tc.data, tc.hosts, tc.now)
			if got.Reason != tc.want {
				t.Fatalf("reason %q, want %q", got.Reason, tc.want)
			}
			bundle := got.Data[servingcert.CABundleKey]
			if same := bytes.Equal(got.Data[servingcert.CAKeyKey], first.Data[servingcert.CAKeyKey]); same != tc.sameCA {
				t.Errorf("CA key kept: %v, want %v", same, tc.sameCA)
			}
			if n := len(certs(t, bundle)); n != tc.bundleSize {
				t.Errorf("bundle of %d CAs, want %d", n, tc.bundleSize)
			}
			if tc.want == servingcert.ReasonNone {
				if diff := cmp.Diff(tc.data, got.Data); diff != "" {
					t.Errorf("data changed (-before +after):\n%s", diff)
				}
				return
			}
			if h := tc.hosts; len(h) == len(hosts) {
				if err := verify(t, got.Data[servingcert.CertKey], bundle, tc.now); err != nil {
					t.Errorf("the renewed certificate does not verify: %v", err)
				}
			}
			if tc.bundleSize == 2 {
				// The previous certificate stays trusted while replicas
				// still serve it.
				if err := verify(t, first.Data[servingcert.CertKey], bundle, now); err != nil {
					t.Errorf("the previous certificate is no longer trusted by the new bundle: %v", err)
				}
			}
			again := renew(t, got.Data, tc.hosts, tc.now)
			if again.Reason != servingcert.ReasonNone {
				t.Errorf("renewing the renewed data again: reason %q, want none", again.Reason)
			}
		})
	}

	t.Run("expired CA leaves the bundle", func(t *testing.T) {
		t.Parallel()
		rotated := renew(t, first.Data, hosts, caDue)
		rotated = renew(t, rotated.Data, hosts, caDue.Add(250*24*time.Hour)) // certificate renewed
		later := certs(t, first.Data[servingcert.CABundleKey])[0].NotAfter.Add(time.Hour)
		if !rotated.Next.Before(later) {
			t.Errorf("next check %s after the old CA's expiry %s", rotated.Next, later)
		}
		got := renew(t, rotated.Data, hosts, later)
		if got.Reason != servingcert.ReasonBundle {
			t.Fatalf("reason %q, want %q", got.Reason, servingcert.ReasonBundle)
		}
		if n := len(certs(t, got.Data[servingcert.CABundleKey])); n != 1 {
			t.Errorf("bundle of %d CAs after the old one expired, want 1", n)
		}
	})
}

func TestRenewRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		hosts servingcert.Hosts
		lt    servingcert.Lifetimes
	}{
		{"no hosts", nil, servingcert.DefaultLifetimes()},
		{"zero lifetime", hosts, servingcert.Lifetimes{CA: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := servingcert.Renew(nil, tc.hosts, time.Now(), tc.lt); err == nil {
				t.Error("no error")
			}
		})
	}
}

func without(data map[string][]byte, key string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range data {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func with(data map[string][]byte, key string, v []byte) map[string][]byte {
	out := without(data, key)
	out[key] = v
	return out
}
