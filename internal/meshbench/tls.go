package meshbench

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/natsmesh/natsmesh/internal/testpki"
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
	ca, err := testpki.New("meshbench route CA")
	if err != nil {
		return nil, err
	}
	p := &RawPKI{pool: ca.Pool}
	for i := range n {
		leaf, err := ca.Leaf(fmt.Sprintf("raw-%d", i))
		if err != nil {
			return nil, err
		}
		p.leaves = append(p.leaves, leaf)
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
