package servingcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
)

// dataLink is the symlink in the directory that points at the current
// files' subdirectory: swapping it replaces certificate and key at once.
const dataLink = "..data"

// DirSync writes the certificate and key of a Secret into a directory,
// and again whenever they change. Run one on every replica.
type DirSync struct {
	client    kubernetes.Interface
	namespace string
	secret    string
	dir       string
	o         options

	once    sync.Once
	written chan struct{}
}

// NewDirSync returns a DirSync of Secret secret in namespace into dir.
func NewDirSync(client kubernetes.Interface, namespace, secret, dir string, opts ...Option) *DirSync {
	return &DirSync{client: client, namespace: namespace, secret: secret, dir: dir, o: newOptions(opts), written: make(chan struct{})}
}

// Written is closed once the directory holds the Secret's certificate
// and key.
func (d *DirSync) Written() <-chan struct{} { return d.written }

// Run watches the Secret and writes its files until ctx is done. It
// returns an error only when it cannot watch.
func (d *DirSync) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	k := newKicker()
	f := byName(d.client, d.namespace, d.secret)
	secrets := f.Core().V1().Secrets()
	if _, err := secrets.Informer().AddEventHandler(k.handler()); err != nil {
		return err
	}
	defer func() {
		cancel()
		f.Shutdown()
	}()
	if err := startAndSync(ctx, f); err != nil {
		return fmt.Errorf("watching secret %s/%s: %w", d.namespace, d.secret, err)
	}
	lister := secrets.Lister().Secrets(d.namespace)
	loop(ctx, k, d.o, func(context.Context) (time.Time, error) {
		sec, err := lister.Get(d.secret)
		if apierrors.IsNotFound(err) {
			return time.Time{}, nil // the leader creates it; the watch kicks
		}
		if err != nil {
			return time.Time{}, err
		}
		return time.Time{}, d.write(sec.Data[CertKey], sec.Data[KeyKey])
	}, func(err error) {
		d.o.log.Error("writing the serving certificate", "secret", d.namespace+"/"+d.secret, "dir", d.dir, "error", err)
	})
	return nil
}

// ErrNoKeyPair is returned for a Secret whose certificate and key are
// missing or do not match.
var ErrNoKeyPair = errors.New("no matching certificate and key")

// write replaces the files, unless they hold cert and key already.
func (d *DirSync) write(cert, key []byte) error {
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fmt.Errorf("secret %s/%s: %w: %w", d.namespace, d.secret, ErrNoKeyPair, err)
	}
	oldCert, errC := os.ReadFile(filepath.Join(d.dir, d.o.certName))
	oldKey, errK := os.ReadFile(filepath.Join(d.dir, d.o.keyName))
	if errC != nil || errK != nil || !bytes.Equal(oldCert, cert) || !bytes.Equal(oldKey, key) {
		if err := writeAtomic(d.dir, map[string][]byte{d.o.certName: cert, d.o.keyName: key}); err != nil {
			return fmt.Errorf("writing the serving certificate into %s: %w", d.dir, err)
		}
		d.o.log.Info("serving certificate files written", "dir", d.dir)
	}
	d.once.Do(func() { close(d.written) })
	return nil
}

// writeAtomic replaces files in dir all at once, as the kubelet updates
// a mounted Secret: the files go into a new subdirectory, the symlink
// dataLink is swapped to it by a rename, and each name in dir is a
// symlink through dataLink. A reader never sees a new certificate with
// an old key.
func writeAtomic(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sub, err := os.MkdirTemp(dir, "..files-")
	if err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(sub, name), b, 0o600); err != nil {
			_ = os.RemoveAll(sub)
			return err
		}
	}
	link := filepath.Join(dir, dataLink)
	old, _ := os.Readlink(link)
	if err := replaceWithSymlink(link, filepath.Base(sub)); err != nil {
		_ = os.RemoveAll(sub)
		return err
	}
	for name := range files {
		p := filepath.Join(dir, name)
		target := filepath.Join(dataLink, name)
		if t, err := os.Readlink(p); err == nil && t == target {
			continue
		}
		if err := replaceWithSymlink(p, target); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(sub) {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// replaceWithSymlink makes path a symlink to target, atomically.
func replaceWithSymlink(path, target string) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
