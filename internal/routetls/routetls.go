// Package routetls derives a mesh's route certificate authority from its
// shared secret and mints the certificates nodes (and stock nats-server
// processes) present on routes.
//
// Every node that knows the secret derives the same authority: HKDF-SHA256
// over the secret gives an Ed25519 seed, whose key signs a self-signed CA
// certificate whose every field is fixed (Ed25519 signatures are
// deterministic), so the certificate is the same bytes on every node. Each
// node then mints its own leaf certificate with a fresh key at start; the
// key never leaves the process. Only the standard library's crypto is used.
package routetls

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// ServerName is a DNS name every leaf certificate carries. A node dialling
// a route verifies the peer's certificate against it, not against the
// address it dialled, so routes learned by gossip (IPs), host names and
// advertised addresses all verify alike.
const ServerName = "route.natsmesh.invalid"

// idURIPrefix prefixes the server ID in a leaf certificate's URI SAN.
const idURIPrefix = "urn:natsmesh:server:"

// salt separates this use of the secret from any other.
const salt = "natsmesh route CA v1"

// Validity of certificates. The authority's is fixed (it must be the same
// on every node); a leaf's starts an hour back, for clocks a little apart.
var (
	caNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	caNotAfter  = time.Date(2124, 1, 1, 0, 0, 0, 0, time.UTC)
)

const leafLifetime = 10 * 365 * 24 * time.Hour

// Authority is a route certificate authority derived from a secret.
type Authority struct {
	Cert *x509.Certificate
	key  ed25519.PrivateKey
}

// Derive returns the authority of secret.
func Derive(secret string) (*Authority, error) {
	okm, err := hkdf.Key(sha256.New, []byte(secret), []byte(salt), "ed25519 seed and serial", ed25519.SeedSize+16)
	if err != nil {
		return nil, fmt.Errorf("derive route authority: %w", err)
	}
	key := ed25519.NewKeyFromSeed(okm[:ed25519.SeedSize])
	pub := key.Public().(ed25519.PublicKey)
	fp := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(okm[ed25519.SeedSize:]),
		Subject:               pkix.Name{CommonName: "natsmesh route CA"},
		NotBefore:             caNotBefore,
		NotAfter:              caNotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          fp[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("derive route authority: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("derive route authority: %w", err)
	}
	return &Authority{Cert: cert, key: key}, nil
}

// Leaf is a node's route certificate and its key.
type Leaf struct {
	TLS  tls.Certificate
	Cert *x509.Certificate
	Key  ed25519.PrivateKey
}

// Issue mints a leaf certificate with a fresh key for a server named name
// (its ID, if known, goes into a URI SAN), valid for ServerName and for
// hosts (IPs or DNS names; "localhost" and the loopback addresses are
// always added, wildcard addresses are skipped).
func (a *Authority) Issue(name, id string, hosts []string) (*Leaf, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("route certificate key: %w", err)
	}
	return a.IssueWithKey(name, id, hosts, key)
}

// IssueWithKey is Issue with the leaf's key made by the caller (fresh,
// for this certificate only), so that it can be made ahead of time.
func (a *Authority) IssueWithKey(name, id string, hosts []string, key ed25519.PrivateKey) (*Leaf, error) {
	pub := key.Public().(ed25519.PublicKey)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("route certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{ServerName, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if id != "" {
		tmpl.URIs = []*url.URL{{Scheme: "urn", Opaque: strings.TrimPrefix(idURIPrefix, "urn:") + id}}
	}
	seen := map[string]bool{ServerName: true, "localhost": true, "127.0.0.1": true, "::1": true}
	for _, h := range hosts {
		h = strings.Trim(h, "[]")
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
			continue
		}
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("route certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("route certificate: %w", err)
	}
	return &Leaf{
		TLS:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		Cert: cert,
		Key:  key,
	}, nil
}

// Pool returns a pool of the authorities' certificates.
func Pool(auths ...*Authority) *x509.CertPool {
	p := x509.NewCertPool()
	for _, a := range auths {
		p.AddCert(a.Cert)
	}
	return p
}

// VerifyLeaf checks that der is a leaf certificate signed by an authority
// in pool and returns it with the server ID its URI SAN names ("" if none).
func VerifyLeaf(der []byte, pool *x509.CertPool) (*x509.Certificate, string, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", err
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, "", err
	}
	return cert, ServerID(cert), nil
}

// ServerID returns the server ID a leaf certificate's URI SAN names, or
// "" if none. It checks nothing else.
func ServerID(cert *x509.Certificate) string {
	for _, u := range cert.URIs {
		if id, ok := strings.CutPrefix(u.String(), idURIPrefix); ok {
			return id
		}
	}
	return ""
}

// CertPEM returns a certificate in PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM returns a private key in PKCS #8 PEM.
func KeyPEM(k crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ErrNoCertificate is returned by a route TLS config's certificate
// callbacks before the node's certificate is minted.
var ErrNoCertificate = errors.New("route certificate not minted yet")
