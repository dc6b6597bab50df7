// Package testpki makes a certificate authority and leaf certificates at
// run time, the way an operator makes them by hand, for the tests and
// benchmarks that bring their own PKI (Options.RouteTLS, ClientTLS,
// nats-server's route TLS): an ECDSA P-256 CA, valid for a day, and ECDSA
// P-256 leaves it signs for 127.0.0.1 and localhost, usable as server and
// as client. No key is ever committed; WritePEM writes them only where a
// test asks (a temporary directory).
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made at run time.
type CA struct {
	// Cert is the authority's certificate.
	Cert *x509.Certificate
	// Pool holds Cert alone, for RootCAs and ClientCAs.
	Pool *x509.CertPool
	key  *ecdsa.PrivateKey
}

// New makes a CA named name.
func New(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}, nil
}

// Leaf makes a certificate named name, for 127.0.0.1 and localhost, with a
// fresh key, signed by the CA.
func (c *CA) Leaf(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: key of %s: %w", name, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: serial of %s: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: certificate of %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: certificate of %s: %w", name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// WritePEM writes into dir the CA's certificate (ca.pem) and, for each
// name, a leaf certificate (NAME.pem) and its key (NAME-key.pem, PKCS #8,
// mode 0600).
func (c *CA) WritePEM(dir string, names ...string) error {
	write := func(name string, block *pem.Block) error {
		return os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600)
	}
	if err := write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}); err != nil {
		return err
	}
	for _, name := range names {
		leaf, err := c.Leaf(name)
		if err != nil {
			return err
		}
		key, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
		if err != nil {
			return err
		}
		if err := write(name+".pem", &pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}); err != nil {
			return err
		}
		if err := write(name+"-key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: key}); err != nil {
			return err
		}
	}
	return nil
}
