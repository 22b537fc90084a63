package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tagpin/tagpin/internal/certtest"
)

// TestCertificateReload: the webhook serves a rotated certificate
// without a restart.
func TestCertificateReload(t *testing.T) {
	needCluster(t)
	certDir := filepath.Join(t.TempDir(), "certs")
	oldCA := certtest.Write(t, certDir)
	w := startWebhook(t, certDir, "--store", "bolt:"+filepath.Join(t.TempDir(), "store.db"))
	addr := fmt.Sprintf("127.0.0.1:%d", w.port)
	handshake := func(ca []byte) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			return err
		}
		return conn.Close()
	}
	if err := handshake(oldCA); err != nil {
		t.Fatalf("with the first certificate: %v", err)
	}
	newCA := certtest.Write(t, certDir) // a new CA and a new serving certificate
	waitFor(t, "the webhook to serve the new certificate", func() (bool, error) {
		err := handshake(newCA)
		return err == nil, err
	})
	if err := handshake(oldCA); err == nil {
		t.Error("the old certificate is still served after the rotation")
	}
}
