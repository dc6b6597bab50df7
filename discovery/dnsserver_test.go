package discovery_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
)

// dnsName is what the test DNS server knows about one name.
type dnsName struct {
	ips    []string         // answered to A (IPv4) and AAAA (IPv6) queries
	srv    []net.SRV        // answered to SRV queries
	rcode  dnsmessage.RCode // if not RCodeSuccess, answered with no records
	silent bool             // never answered
}

// dnsServer is a DNS server on loopback answering from a fixed table, over
// UDP and TCP. A response too large for 512 bytes is truncated over UDP, so
// the client asks again over TCP, as real servers make it do. Names not in
// the table get NXDOMAIN.
type dnsServer struct {
	zone map[string]dnsName // by lower-case name with a trailing dot
	udp  net.PacketConn
	tcp  net.Listener

	udpQueries, tcpQueries atomic.Int64

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// startDNS starts a DNS server on 127.0.0.1 serving zone; it stops when the
// test ends.
func startDNS(t *testing.T, zone map[string]dnsName) *dnsServer {
	t.Helper()
	s := &dnsServer{zone: map[string]dnsName{}, conns: map[net.Conn]bool{}}
	for name, rr := range zone {
		s.zone[fqdn(name)] = rr
	}
	var err error
	s.udp, err = net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	s.tcp, err = net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		s.udp.Close()
		require.NoError(t, err)
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(s.stop)
	return s
}

func (s *dnsServer) stop() {
	s.udp.Close()
	s.tcp.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// resolver returns a resolver that sends every query to this server,
// whatever name servers the machine is configured with.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			switch network {
			case "udp", "udp4", "udp6":
				return d.DialContext(ctx, "udp4", s.udp.LocalAddr().String())
			case "tcp", "tcp4", "tcp6":
				return d.DialContext(ctx, "tcp4", s.tcp.Addr().String())
			}
			return nil, fmt.Errorf("test DNS server: unexpected network %q", network)
		},
	}
}

func (s *dnsServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		s.udpQueries.Add(1)
		if resp, ok := s.answer(buf[:n], 512); ok {
			_, _ = s.udp.WriteTo(resp, addr)
		}
	}
}

func (s *dnsServer) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			for {
				var n uint16
				if err := binary.Read(c, binary.BigEndian, &n); err != nil {
					return
				}
				req := make([]byte, n)
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				s.tcpQueries.Add(1)
				resp, ok := s.answer(req, 65535)
				if !ok {
					continue
				}
				out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
				if _, err := c.Write(append(out, resp...)); err != nil {
					return
				}
			}
		})
	}
}

// answer builds the response to req, at most limit bytes long (else
// truncated); ok is false when the query is to go unanswered.
func (s *dnsServer) answer(req []byte, limit int) (resp []byte, ok bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	rr, known := s.zone[strings.ToLower(q.Name.String())]
	if rr.silent {
		return nil, false
	}
	head := dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		Authoritative:      true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
		RCode:              rr.rcode,
	}
	if !known {
		head.RCode = dnsmessage.RCodeNameError
	}
	resp, err = build(head, q, rr)
	if err != nil {
		panic(err) // a bad table in the test
	}
	if len(resp) > limit {
		head.Truncated = true
		resp, err = build(head, q, dnsName{})
		if err != nil {
			panic(err)
		}
	}
	return resp, true
}

func build(head dnsmessage.Header, q dnsmessage.Question, rr dnsName) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, head)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}
	if head.RCode == dnsmessage.RCodeSuccess && !head.Truncated {
		for _, ip := range rr.ips {
			a := netip.MustParseAddr(ip)
			var err error
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				err = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
			if err != nil {
				return nil, err
			}
		}
		if q.Type == dnsmessage.TypeSRV {
			for _, srv := range rr.srv {
				target, err := dnsmessage.NewName(srv.Target)
				if err != nil {
					return nil, err
				}
				err = b.SRVResource(rh, dnsmessage.SRVResource{
					Priority: srv.Priority, Weight: srv.Weight, Port: srv.Port, Target: target,
				})
				if err != nil {
					return nil, err
				}
			}
		}
	}
	return b.Finish()
}

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// TestDNSServer checks the test server itself with the standard resolver,
// so that a failure of the provider tests is not the server's.
func TestDNSServer(t *testing.T) {
	s := startDNS(t, map[string]dnsName{
		"one.mesh.test":  {ips: []string{"192.0.2.1", "2001:db8::1"}},
		"_x._tcp.m.test": {srv: []net.SRV{{Target: "n1.m.test.", Port: 4248, Priority: 1, Weight: 1}}},
	})
	r := s.resolver()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	addrs, err := r.LookupNetIP(ctx, "ip", "one.mesh.test.")
	require.NoError(t, err)
	require.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}, addrs)

	_, srvs, err := r.LookupSRV(ctx, "x", "tcp", "m.test.")
	require.NoError(t, err)
	require.Equal(t, []*net.SRV{{Target: "n1.m.test.", Port: 4248, Priority: 1, Weight: 1}}, srvs)

	_, err = r.LookupNetIP(ctx, "ip", "missing.mesh.test.")
	var dnsErr *net.DNSError
	require.True(t, errors.As(err, &dnsErr), "%v", err)
	require.True(t, dnsErr.IsNotFound, "%v", err)
	require.Positive(t, s.udpQueries.Load())
}
