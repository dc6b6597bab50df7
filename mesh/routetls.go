package mesh

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/natsmesh/natsmesh/internal/routetls"
	"github.com/natsmesh/natsmesh/options"
)

// routeTLSTimeout bounds a route's TLS handshake, in seconds (nats-server's
// unit).
const routeTLSTimeout = 2

// routeSecurity is a node's route TLS: the config nats-server uses and,
// with a Secret, the authorities it accepts and the node's own leaf
// certificate, minted once the server's ID is known.
type routeSecurity struct {
	cfg    *tls.Config
	own    *routetls.Authority // nil without a Secret
	accept *x509.CertPool      // the authorities of Secret and AcceptedSecrets
	leaf   atomic.Pointer[routetls.Leaf]
}

// newRouteSecurity returns the route TLS of n, or nil if routes are plain.
func newRouteSecurity(n options.Normalized) (*routeSecurity, error) {
	switch {
	case n.Secret != "":
		own, err := routetls.Derive(n.Secret)
		if err != nil {
			return nil, fmt.Errorf("natsmesh: %w", err)
		}
		auths := []*routetls.Authority{own}
		for _, s := range n.AcceptedSecrets {
			a, err := routetls.Derive(s)
			if err != nil {
				return nil, fmt.Errorf("natsmesh: %w", err)
			}
			auths = append(auths, a)
		}
		r := &routeSecurity{own: own, accept: routetls.Pool(auths...)}
		r.cfg = &tls.Config{
			// TLS 1.2, forward secret AEAD suites only: in TLS 1.3 the
			// dialling side finishes its handshake before its certificate
			// is checked, so a node refused for its secret would learn
			// only that the route closed, not why. (The certificates,
			// which name the node, cross in the clear.)
			MinVersion:   tls.VersionTLS12,
			MaxVersion:   tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
			// Verified against this name, which every leaf carries, not
			// against the address dialled: nats-server keeps a ServerName
			// that is set.
			ServerName: routetls.ServerName,
			RootCAs:    r.accept,
			ClientCAs:  r.accept,
			ClientAuth: tls.RequireAndVerifyClientCert,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return r.certificate()
			},
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return r.certificate()
			},
		}
		return r, nil
	case n.RouteTLS != nil:
		cfg := n.RouteTLS.Clone()
		if cfg.RootCAs == nil {
			cfg.RootCAs = cfg.ClientCAs
		}
		if cfg.ClientCAs == nil {
			cfg.ClientCAs = cfg.RootCAs
		}
		// Mutual: a peer without a certificate from these authorities
		// cannot finish a route.
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		if cfg.GetClientCertificate == nil && len(cfg.Certificates) == 0 && cfg.GetCertificate != nil {
			get := cfg.GetCertificate
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return get(&tls.ClientHelloInfo{}) }
		}
		return &routeSecurity{cfg: cfg}, nil
	}
	return nil, nil
}

func (r *routeSecurity) certificate() (*tls.Certificate, error) {
	l := r.leaf.Load()
	if l == nil {
		return nil, routetls.ErrNoCertificate
	}
	return &l.TLS, nil
}

// mint issues the node's leaf certificate, once the server's ID is known.
// It names every address peers or stock servers may dial: the listen
// and advertised hosts, and every interface's address for a wildcard
// bind. (Nothing more: anyone who reaches the route port can read it.)
func (r *routeSecurity) mint(n options.Normalized, id string) error {
	if r == nil || r.own == nil {
		return nil
	}
	hosts := []string{n.Host, n.ClusterHost, hostOf(n.ClientAdvertise), hostOf(n.ClusterAdvertise)}
	if ip := net.ParseIP(n.ClusterHost); ip != nil && ip.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					hosts = append(hosts, ipn.IP.String())
				}
			}
		}
	}
	leaf, err := r.own.Issue(n.Name, id, hosts)
	if err != nil {
		return fmt.Errorf("natsmesh: %w", err)
	}
	r.leaf.Store(leaf)
	return nil
}

// hostOf returns the host of "host" or "host:port".
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
