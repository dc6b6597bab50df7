package routetls_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/routetls"
)

// TestDeriveIsDeterministic: every node derives the same authority, byte
// for byte, from one secret, and another from another secret.
func TestDeriveIsDeterministic(t *testing.T) {
	a1, err := routetls.Derive("one shared secret, long enough")
	require.NoError(t, err)
	a2, err := routetls.Derive("one shared secret, long enough")
	require.NoError(t, err)
	b, err := routetls.Derive("another shared secret, long enough")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(a1.Cert.Raw, a2.Cert.Raw))
	assert.False(t, bytes.Equal(a1.Cert.Raw, b.Cert.Raw))
	assert.NotEqual(t, a1.Cert.SubjectKeyId, b.Cert.SubjectKeyId)
	assert.True(t, a1.Cert.IsCA)
}

// TestIssueAndVerify: a leaf verifies against its authority (and names
// the server ID), not against another; it serves TLS for ServerName
// whatever address is dialled, and for the hosts it was given.
func TestIssueAndVerify(t *testing.T) {
	a, err := routetls.Derive("one shared secret, long enough")
	require.NoError(t, err)
	other, err := routetls.Derive("another shared secret, long enough")
	require.NoError(t, err)
	leaf, err := a.Issue("n1", "NID1", []string{"10.1.2.3", "node1.example", "0.0.0.0", "[::1]"})
	require.NoError(t, err)
	leaf2, err := a.Issue("n1", "NID1", nil)
	require.NoError(t, err)
	assert.NotEqual(t, leaf.Key, leaf2.Key, "a fresh key per leaf")

	cert, id, err := routetls.VerifyLeaf(leaf.Cert.Raw, routetls.Pool(a))
	require.NoError(t, err)
	assert.Equal(t, "NID1", id)
	assert.Equal(t, "n1", cert.Subject.CommonName)
	_, _, err = routetls.VerifyLeaf(leaf.Cert.Raw, routetls.Pool(other))
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown)
	_, _, err = routetls.VerifyLeaf(leaf.Cert.Raw, routetls.Pool(other, a))
	assert.NoError(t, err, "an accepted authority among others")

	for _, name := range []string{routetls.ServerName, "localhost", "127.0.0.1", "10.1.2.3", "node1.example", "::1"} {
		assert.NoError(t, leaf.Cert.VerifyHostname(name), name)
	}
	for _, ip := range leaf.Cert.IPAddresses {
		assert.False(t, ip.Equal(net.IPv4zero), "a wildcard address in the certificate")
	}

	// A real handshake, client and server both verifying.
	srvCfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, ClientCAs: routetls.Pool(a), ClientAuth: tls.RequireAndVerifyClientCert}
	cliCfg := &tls.Config{Certificates: []tls.Certificate{leaf2.TLS}, RootCAs: routetls.Pool(a), ServerName: routetls.ServerName}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	done := make(chan error, 1)
	go func() { done <- tls.Server(c1, srvCfg).Handshake() }()
	require.NoError(t, tls.Client(c2, cliCfg).Handshake())
	require.NoError(t, <-done)
}
