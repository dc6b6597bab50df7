package mesh

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natsmesh/natsmesh/internal/routetls"
)

// routeTLSTimeout bounds a route's TLS handshake, in seconds (nats-server's
// unit).
const routeTLSTimeout = 2

// routeSecurity is a node's route TLS: the config nats-server uses and,
// with a Secret, the authorities it accepts and the node's own leaf
// certificate, minted once the server's ID is known.
//
// With a Secret, deriving the authorities and minting the leaf (each an
// Ed25519 signature and an X.509 certificate) run alongside the server's
// own start: derive from newRouteSecurity on, the pool filled in before
// the server starts (waitDerived); mint from the moment the server's ID
// is known, waited for by the certificate callbacks and before Start
// returns (waitMinted).
type routeSecurity struct {
	cfg    *tls.Config
	own    *routetls.Authority // nil without a Secret; set before derived is closed
	accept *x509.CertPool      // the authorities of Secret and AcceptedSecrets, complete once derived is closed
	leaf   atomic.Pointer[routetls.Leaf]

	leafKey            ed25519.PrivateKey // the leaf's key, made while deriving
	derived            chan struct{}      // closed once own, accept and leafKey are set, or deriveErr
	minted             chan struct{}      // closed once leaf is set, or mintErr
	deriveErr, mintErr error

	// The peers' leaf certificates the route handshakes verified, by
	// their DER (see handshaken).
	mu         sync.Mutex
	handshakes map[string]*x509.Certificate
}

// maxHandshaken bounds how many verified peer certificates a node keeps:
// more than the peers of any mesh; past it, the oldest are forgotten
// (their descriptions are then verified in full).
const maxHandshaken = 1024

// noteHandshake records the peer certificate of a route handshake that
// verified it against the accepted authorities, if it can sign
// descriptions (client authentication, as VerifyLeaf requires).
func (r *routeSecurity) noteHandshake(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil
	}
	leaf := chains[0][0]
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handshakes == nil {
		r.handshakes = map[string]*x509.Certificate{}
	}
	if len(r.handshakes) >= maxHandshaken {
		clear(r.handshakes)
	}
	r.handshakes[string(leaf.Raw)] = leaf
	return nil
}

// handshaken returns the certificate of der if a route handshake verified
// it (noteHandshake), else nil.
func (r *routeSecurity) handshaken(der []byte) *x509.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handshakes[string(der)]
}

// newRouteSecurity returns the route TLS of n, or nil if routes are plain.
func newRouteSecurity(n config) (*routeSecurity, error) {
	switch {
	case n.Secret != "":
		r := &routeSecurity{accept: x509.NewCertPool(), derived: make(chan struct{}), minted: make(chan struct{})}
		go r.derive(append([]string{n.Secret}, n.AcceptedSecrets...))
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
			// The pool is filled in before the server starts.
			RootCAs:    r.accept,
			ClientCAs:  r.accept,
			ClientAuth: tls.RequireAndVerifyClientCert,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return r.certificate()
			},
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return r.certificate()
			},
			// Called only once the peer's certificate has verified.
			VerifyPeerCertificate: r.noteHandshake,
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

// derive derives the authorities of secrets (the node's own first) into
// the pool, and makes the leaf's key.
func (r *routeSecurity) derive(secrets []string) {
	defer close(r.derived)
	auths := make([]*routetls.Authority, len(secrets))
	for i, s := range secrets {
		a, err := routetls.Derive(s)
		if err != nil {
			r.deriveErr = fmt.Errorf("natsmesh: %w", err)
			return
		}
		auths[i] = a
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		r.deriveErr = fmt.Errorf("natsmesh: route certificate key: %w", err)
		return
	}
	for _, a := range auths {
		r.accept.AddCert(a.Cert)
	}
	r.own, r.leafKey = auths[0], key
}

// waitDerived waits until the authorities are derived: before the server
// starts, since a route's handshake checks the peer against them.
func (r *routeSecurity) waitDerived() error {
	if r == nil || r.derived == nil {
		return nil
	}
	<-r.derived
	return r.deriveErr
}

// certificate returns the node's leaf certificate, waiting (within a
// route's TLS timeout) for it to be minted.
func (r *routeSecurity) certificate() (*tls.Certificate, error) {
	if l := r.leaf.Load(); l != nil {
		return &l.TLS, nil
	}
	select {
	case <-r.minted:
	case <-time.After(routeTLSTimeout * time.Second):
	}
	l := r.leaf.Load()
	if l == nil {
		return nil, routetls.ErrNoCertificate
	}
	return &l.TLS, nil
}

// mint starts issuing the node's leaf certificate, once the server's ID is
// known. It names every address peers or stock servers may dial: the
// listen and advertised hosts, and every interface's address for a
// wildcard bind. (Nothing more: anyone who reaches the route port can read
// it.) waitMinted waits for it.
func (r *routeSecurity) mint(n config, id string) {
	if r == nil || r.minted == nil {
		return
	}
	go func() {
		defer close(r.minted)
		<-r.derived
		if r.deriveErr != nil {
			r.mintErr = r.deriveErr
			return
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
		leaf, err := r.own.IssueWithKey(n.Name, id, hosts, r.leafKey)
		if err != nil {
			r.mintErr = fmt.Errorf("natsmesh: %w", err)
			return
		}
		r.leaf.Store(leaf)
	}()
}

// waitMinted waits until mint has finished and returns its error.
func (r *routeSecurity) waitMinted() error {
	if r == nil || r.minted == nil {
		return nil
	}
	<-r.minted
	return r.mintErr
}
