package meshbench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// RawPKI is the certificate authority and the per-node leaf certificates
// of a RawTLS cluster, made at run time with crypto/x509 the way an
// operator makes them by hand (no key is ever written or committed): an
// ECDSA P-256 CA and, for every node, an ECDSA P-256 leaf it signed, for
// 127.0.0.1 and localhost, usable as server and as client.
type RawPKI struct {
	pool   *x509.CertPool
	leaves []tls.Certificate
}

// NewRawPKI makes a CA and n leaf certificates.
func NewRawPKI(n int) (*RawPKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("meshbench: CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "meshbench route CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("meshbench: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("meshbench: CA certificate: %w", err)
	}
	p := &RawPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	for i := range n {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("meshbench: leaf key %d: %w", i, err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i) + 2),
			Subject:      pkix.Name{CommonName: fmt.Sprintf("raw-%d", i)},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, fmt.Errorf("meshbench: leaf certificate %d: %w", i, err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("meshbench: leaf certificate %d: %w", i, err)
		}
		p.leaves = append(p.leaves, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf})
	}
	return p, nil
}

// RouteTLS returns node i's Cluster.TLSConfig as nats-server builds it from
// a cluster block's tls {cert_file, key_file, ca_file, verify: true}
// (server.GenTLSConfig, then getTLSConfig): TLS 1.2 at least, the node's
// certificate, client certificates required and verified, the CA as both
// client and root authority. Cipher suites and curves are Go's defaults:
// nats-server's lists hold the same ones, and between two Go peers TLS 1.3
// is negotiated, whose suites are not configurable.
func (p *RawPKI) RouteTLS(i int) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.leaves[i]},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		RootCAs:      p.pool,
	}
}
