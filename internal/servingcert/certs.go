package servingcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// The keys of the Secret: kubernetes.io/tls's two, plus the CA.
const (
	// CertKey holds the serving certificate (PEM).
	CertKey = "tls.crt"
	// KeyKey holds the serving certificate's private key (PEM).
	KeyKey = "tls.key"
	// CABundleKey holds the CA bundle (PEM): the CA that signs, first,
	// then older CAs that have not expired yet. It is what goes into the
	// webhooks' caBundle.
	CABundleKey = "ca.crt"
	// CAKeyKey holds the private key of the first CA of the bundle (PEM).
	CAKeyKey = "ca.key"
)

// Default lifetimes.
const (
	DefaultCALifetime   = 5 * 365 * 24 * time.Hour
	DefaultCertLifetime = 365 * 24 * time.Hour
)

// backdate is how far before now a certificate of lifetime starts to be
// valid, for clocks behind ours: an hour, less for short lifetimes.
func backdate(lifetime time.Duration) time.Duration { return min(time.Hour, lifetime/10) }

// Lifetimes are how long new certificates are valid. A certificate is
// renewed once less than a third of its lifetime remains.
type Lifetimes struct {
	CA   time.Duration
	Cert time.Duration
}

// DefaultLifetimes returns a CA for 5 years, serving certificates for 1 year.
func DefaultLifetimes() Lifetimes {
	return Lifetimes{CA: DefaultCALifetime, Cert: DefaultCertLifetime}
}

// Reason says why Renew changed the data.
type Reason string

// Reasons.
const (
	ReasonNone    Reason = ""                    // nothing to do
	ReasonCreated Reason = "created"             // there was no usable CA
	ReasonCA      Reason = "CA renewed"          // the CA was due; the old one stays in the bundle
	ReasonCert    Reason = "certificate renewed" // the serving certificate was due, invalid or for other names
	ReasonBundle  Reason = "expired CAs removed" // only the bundle changed
)

// Renewal is what Renew decided.
type Renewal struct {
	// Data is the Secret data to store; equal to the input when Reason
	// is ReasonNone.
	Data map[string][]byte
	// Reason is why Data changed, or ReasonNone.
	Reason Reason
	// Next is when Renew has something to do next (a certificate falls
	// due or a CA of the bundle expires).
	Next time.Time
}

// Hosts are the names a serving certificate is for: DNS names and IP
// addresses.
type Hosts []string

// Renew returns the Secret data to store at now for a serving certificate
// valid for hosts: data itself while its CA and certificate are valid,
// for hosts, and not due; otherwise data with a new CA (when it is
// missing, invalid or due; the old one stays in the bundle until it
// expires) or a new serving certificate.
func Renew(data map[string][]byte, hosts Hosts, now time.Time, lt Lifetimes) (Renewal, error) {
	if len(hosts) == 0 {
		return Renewal{}, errors.New("a serving certificate needs at least one host name")
	}
	if lt.CA <= 0 || lt.Cert <= 0 {
		return Renewal{}, fmt.Errorf("lifetimes must be positive: CA %s, certificate %s", lt.CA, lt.Cert)
	}
	bundle := parseCerts(data[CABundleKey])
	ca, caOK := parseCA(bundle, data[CAKeyKey], now)
	reason := ReasonNone
	switch {
	case !caOK:
		reason = ReasonCreated
	case due(ca.cert, now):
		reason = ReasonCA
	}
	if reason != ReasonNone {
		fresh, err := newCA(now, lt.CA)
		if err != nil {
			return Renewal{}, err
		}
		ca = fresh
		bundle = append([]*x509.Certificate{fresh.cert}, bundle...)
	}
	// The bundle: the signing CA first, then unexpired others, once each.
	kept := []*x509.Certificate{ca.cert}
	for _, c := range bundle {
		if now.Before(c.NotAfter) && !slices.ContainsFunc(kept, func(k *x509.Certificate) bool { return k.Equal(c) }) {
			kept = append(kept, c)
		}
	}
	out := map[string][]byte{
		CABundleKey: encodeCerts(kept),
		CAKeyKey:    ca.keyPEM,
		CertKey:     data[CertKey],
		KeyKey:      data[KeyKey],
	}
	leaf, leafOK := parseLeaf(data[CertKey], data[KeyKey], ca.cert, hosts, now)
	if reason != ReasonNone || !leafOK || due(leaf, now) {
		certPEM, keyPEM, err := issue(ca, hosts, now, lt.Cert)
		if err != nil {
			return Renewal{}, err
		}
		out[CertKey], out[KeyKey] = certPEM, keyPEM
		leaf, _ = parseLeaf(certPEM, keyPEM, ca.cert, hosts, now)
		if reason == ReasonNone {
			reason = ReasonCert
		}
	}
	if reason == ReasonNone && !bytes.Equal(out[CABundleKey], data[CABundleKey]) {
		reason = ReasonBundle
	}
	if reason == ReasonNone {
		out = data
	}
	next := earliest(dueAt(ca.cert), dueAt(leaf))
	for _, c := range kept[1:] {
		next = earliest(next, c.NotAfter)
	}
	return Renewal{Data: out, Reason: reason, Next: next}, nil
}

// due reports whether less than a third of c's lifetime remains.
func due(c *x509.Certificate, now time.Time) bool { return !now.Before(dueAt(c)) }

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func dueAt(c *x509.Certificate) time.Time {
	return c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 3)
}

type authority struct {
	cert   *x509.Certificate
	key    crypto.Signer
	keyPEM []byte
}

// parseCA returns the bundle's first CA with its key, when they match
// and the CA is valid at now.
func parseCA(bundle []*x509.Certificate, keyPEM []byte, now time.Time) (authority, bool) {
	if len(bundle) == 0 {
		return authority{}, false
	}
	c := bundle[0]
	key, ok := parseKey(keyPEM)
	if !ok || !c.IsCA || now.Before(c.NotBefore) || !now.Before(c.NotAfter) || !samePublicKey(c, key) {
		return authority{}, false
	}
	return authority{cert: c, key: key, keyPEM: keyPEM}, true
}

// parseLeaf returns the serving certificate when it matches its key, is
// signed by ca, is for exactly hosts and is valid at now.
func parseLeaf(certPEM, keyPEM []byte, ca *x509.Certificate, hosts Hosts, now time.Time) (*x509.Certificate, bool) {
	certs := parseCerts(certPEM)
	key, ok := parseKey(keyPEM)
	if len(certs) == 0 || !ok {
		return nil, false
	}
	c := certs[0]
	if !samePublicKey(c, key) || c.CheckSignatureFrom(ca) != nil || now.Before(c.NotBefore) || !now.Before(c.NotAfter) {
		return nil, false
	}
	dns, ips := split(hosts)
	if !slices.Equal(c.DNSNames, dns) || !slices.EqualFunc(c.IPAddresses, ips, net.IP.Equal) {
		return nil, false
	}
	return c, true
}

func samePublicKey(c *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(c.PublicKey)
}

func newCA(now time.Time, lifetime time.Duration) (authority, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return authority{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return authority{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "tagpin webhook CA " + now.UTC().Format("2006-01-02T15:04:05Z")},
		NotBefore:    now.Add(-backdate(lifetime)), NotAfter: now.Add(lifetime),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return authority{}, fmt.Errorf("creating the CA certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return authority{}, err
	}
	return authority{cert: c, key: key, keyPEM: keyPEM}, nil
}

// issue signs a serving certificate for hosts, valid for lifetime but
// not beyond the CA.
func issue(ca authority, hosts Hosts, now time.Time, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	dns, ips := split(hosts)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-backdate(lifetime)), NotAfter: earliest(now.Add(lifetime), ca.cert.NotAfter),
		DNSNames: dns, IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the serving certificate for %s: %w", hosts[0], err)
	}
	return encodeCerts([]*x509.Certificate{{Raw: der}}), keyPEM, nil
}

// split separates IP addresses from DNS names, in order.
func split(hosts Hosts) (dns []string, ips []net.IP) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

func newKey() (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating a key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// parseCerts returns the certificates of a PEM bundle, skipping what is
// not one.
func parseCerts(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func parseKey(b []byte) (crypto.Signer, bool) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, false
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, false
	}
	if err != nil {
		return nil, false
	}
	s, ok := key.(crypto.Signer)
	return s, ok
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}
