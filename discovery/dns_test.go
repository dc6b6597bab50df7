package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/natsmesh/natsmesh/discovery"
	"github.com/natsmesh/natsmesh/internal/address"
)

// The addresses below are from the documentation ranges (192.0.2.0/24,
// 2001:db8::/32): they are only data; nothing dials them.

// testZone is the table the test DNS server answers from.
func testZone() map[string]dnsName {
	many := make([]string, 60) // too many for a 512-byte UDP answer
	for i := range many {
		many[i] = fmt.Sprintf("192.0.2.%d", 100+i)
	}
	return map[string]dnsName{
		// A headless service: one name, a record per node, in no order,
		// with a duplicate.
		"nats.mesh.test": {ips: []string{"192.0.2.12", "2001:db8::2", "192.0.2.3", "2001:db8::1", "192.0.2.12", "192.0.2.10"}},
		"v4.mesh.test":   {ips: []string{"192.0.2.7"}},
		"v6.mesh.test":   {ips: []string{"2001:db8::7"}},
		"many.mesh.test": {ips: many},
		// A name that exists with SRV records only.
		"srv-only.mesh.test": {srv: []net.SRV{{Target: "n1.mesh.test.", Port: 4248}}},
		"broken.mesh.test":   {rcode: dnsmessage.RCodeServerFailure},
		"refused.mesh.test":  {rcode: dnsmessage.RCodeRefused},
		"silent.mesh.test":   {silent: true},

		"_nats-route._tcp.mesh.test": {srv: []net.SRV{
			{Target: "n3.mesh.test.", Port: 4248, Priority: 10, Weight: 1},
			{Target: "n1.mesh.test.", Port: 4248, Priority: 10, Weight: 5},
			{Target: "n2.mesh.test.", Port: 5248, Priority: 10, Weight: 1},
			{Target: "n0.mesh.test.", Port: 6222, Priority: 20, Weight: 1},
			{Target: "n1.mesh.test.", Port: 4248, Priority: 10, Weight: 5},
		}},
		"_nats-route._tcp.unusable.mesh.test": {srv: []net.SRV{
			{Target: ".", Port: 4248},
			{Target: "n1.mesh.test.", Port: 0},
		}},
		"_nats-route._tcp.partly.mesh.test": {srv: []net.SRV{
			{Target: ".", Port: 4248},
			{Target: "n1.mesh.test.", Port: 0},
			{Target: "n2.mesh.test.", Port: 4248},
		}},
		// One target is not a valid host name: the resolver drops it and
		// reports an error besides the rest.
		"_nats-route._tcp.malformed.mesh.test": {srv: []net.SRV{
			{Target: "bad!name.mesh.test.", Port: 4248},
			{Target: "n2.mesh.test.", Port: 4248},
		}},
		"_nats-route._tcp.empty.mesh.test": {ips: []string{"192.0.2.1"}},
	}
}

func TestDNS(t *testing.T) {
	srv := startDNS(t, testZone())
	many := make([]string, 60)
	for i := range many {
		many[i] = fmt.Sprintf("nats://192.0.2.%d:4248", 100+i)
	}
	tests := []struct {
		name     string
		dns      discovery.DNS
		want     []string
		overTCP  bool // the answer is too large for UDP
		notFound bool
	}{
		{
			name: "headless service",
			dns:  discovery.DNS{Name: "nats.mesh.test.", Port: 4248},
			want: []string{
				"nats://192.0.2.3:4248", "nats://192.0.2.10:4248", "nats://192.0.2.12:4248",
				"nats://[2001:db8::1]:4248", "nats://[2001:db8::2]:4248",
			},
		},
		{
			name: "name without trailing dot",
			dns:  discovery.DNS{Name: "v4.mesh.test", Port: 4248},
			want: []string{"nats://192.0.2.7:4248"},
		},
		{
			name: "name in capitals",
			dns:  discovery.DNS{Name: "V4.Mesh.Test.", Port: 6222},
			want: []string{"nats://192.0.2.7:6222"},
		},
		{
			name: "IPv6 only",
			dns:  discovery.DNS{Name: "v6.mesh.test.", Port: 4248},
			want: []string{"nats://[2001:db8::7]:4248"},
		},
		{
			name: "scheme nats-route",
			dns:  discovery.DNS{Name: "v4.mesh.test.", Port: 4248, Scheme: "nats-route"},
			want: []string{"nats-route://192.0.2.7:4248"},
		},
		{
			name:    "more records than UDP carries",
			dns:     discovery.DNS{Name: "many.mesh.test.", Port: 4248},
			want:    many,
			overTCP: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tt.dns.Resolver = srv.resolver()
			before := srv.tcpQueries.Load()
			got, err := tt.dns.Discover(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.want, strs(got))
			for _, u := range got {
				_, err := address.ParseSeed(u.String())
				assert.NoError(t, err)
			}
			if tt.overTCP {
				assert.Greater(t, srv.tcpQueries.Load(), before, "the resolver should have asked again over TCP")
			}
		})
	}
}

func TestDNSErrors(t *testing.T) {
	srv := startDNS(t, testZone())
	tests := []struct {
		name     string
		dns      discovery.DNS
		noSeeds  bool     // matches ErrNoSeeds
		wantMsg  []string // the message contains each
		deadline bool     // matches context.DeadlineExceeded
	}{
		{name: "no such name", dns: discovery.DNS{Name: "missing.mesh.test.", Port: 4248}, noSeeds: true,
			wantMsg: []string{`DNS name "missing.mesh.test."`, "no A or AAAA records", "no such host"}},
		{name: "no such name, no trailing dot", dns: discovery.DNS{Name: "missing.mesh.test", Port: 4248}, noSeeds: true,
			wantMsg: []string{`"missing.mesh.test"`, "no A or AAAA records"}},
		{name: "name without addresses", dns: discovery.DNS{Name: "srv-only.mesh.test.", Port: 4248}, noSeeds: true,
			wantMsg: []string{`DNS name "srv-only.mesh.test."`, "no A or AAAA records"}},
		{name: "server failure", dns: discovery.DNS{Name: "broken.mesh.test.", Port: 4248},
			wantMsg: []string{`DNS name "broken.mesh.test."`, "server misbehaving"}},
		{name: "refused", dns: discovery.DNS{Name: "refused.mesh.test.", Port: 4248},
			wantMsg: []string{`DNS name "refused.mesh.test."`}},
		{name: "no answer before the deadline", dns: discovery.DNS{Name: "silent.mesh.test.", Port: 4248}, deadline: true,
			wantMsg: []string{`DNS name "silent.mesh.test."`}},
		{name: "no name", dns: discovery.DNS{Port: 4248}, wantMsg: []string{"no Name"}},
		{name: "bad name", dns: discovery.DNS{Name: "bad name", Port: 4248}, wantMsg: []string{`"bad name"`, "not a valid host name"}},
		{name: "host and port", dns: discovery.DNS{Name: "nats.mesh.test:4248", Port: 4248}, wantMsg: []string{`"nats.mesh.test:4248"`}},
		{name: "no port", dns: discovery.DNS{Name: "nats.mesh.test."}, wantMsg: []string{`"nats.mesh.test."`, "Port 0, want 1-65535"}},
		{name: "port too large", dns: discovery.DNS{Name: "nats.mesh.test.", Port: 65536}, wantMsg: []string{"Port 65536"}},
		{name: "bad scheme", dns: discovery.DNS{Name: "nats.mesh.test.", Port: 4248, Scheme: "tls"},
			wantMsg: []string{`Scheme "tls", want nats or nats-route`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 10 * time.Second
			if tt.deadline {
				timeout = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			tt.dns.Resolver = srv.resolver()
			start := time.Now()
			got, err := tt.dns.Discover(ctx)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 8*time.Second)
			assert.Nil(t, got)
			assert.ErrorIs(t, err, discovery.ErrDiscovery)
			assert.Equal(t, tt.noSeeds, errors.Is(err, discovery.ErrNoSeeds), "matches ErrNoSeeds: %v", err)
			if tt.deadline {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
			for _, m := range tt.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

// TestDNSCancelled checks that a cancelled context is an error, not a
// lookup that goes on.
func TestDNSCancelled(t *testing.T) {
	srv := startDNS(t, testZone())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := discovery.DNS{Name: "nats.mesh.test.", Port: 4248, Resolver: srv.resolver()}.Discover(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, discovery.ErrDiscovery)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, discovery.ErrNoSeeds)
}

func TestSRV(t *testing.T) {
	srv := startDNS(t, testZone())
	all := []string{
		"nats://n1.mesh.test:4248", "nats://n2.mesh.test:5248", "nats://n3.mesh.test:4248", // priority 10
		"nats://n0.mesh.test:6222", // priority 20
	}
	tests := []struct {
		name string
		srv  discovery.SRV
		want []string
	}{
		{name: "full name", srv: discovery.SRV{Name: "_nats-route._tcp.mesh.test."}, want: all},
		{name: "service and proto", srv: discovery.SRV{Service: "nats-route", Proto: "tcp", Name: "mesh.test."}, want: all},
		{name: "service and proto, no trailing dot", srv: discovery.SRV{Service: "nats-route", Proto: "tcp", Name: "mesh.test"}, want: all},
		{name: "unusable records skipped", srv: discovery.SRV{Name: "_nats-route._tcp.partly.mesh.test."},
			want: []string{"nats://n2.mesh.test:4248"}},
		{name: "malformed target dropped", srv: discovery.SRV{Name: "_nats-route._tcp.malformed.mesh.test."},
			want: []string{"nats://n2.mesh.test:4248"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tt.srv.Resolver = srv.resolver()
			for range 3 { // the resolver shuffles records by weight; the result is stable
				got, err := tt.srv.Discover(ctx)
				require.NoError(t, err)
				assert.Equal(t, tt.want, strs(got))
			}
		})
	}
}

func TestSRVErrors(t *testing.T) {
	srv := startDNS(t, testZone())
	tests := []struct {
		name    string
		srv     discovery.SRV
		noSeeds bool
		wantMsg []string
	}{
		{name: "no such name", srv: discovery.SRV{Service: "nats-route", Proto: "tcp", Name: "missing.mesh.test."}, noSeeds: true,
			wantMsg: []string{`SRV name "_nats-route._tcp.missing.mesh.test."`, "no SRV records"}},
		{name: "name without SRV records", srv: discovery.SRV{Name: "_nats-route._tcp.empty.mesh.test."}, noSeeds: true,
			wantMsg: []string{`"_nats-route._tcp.empty.mesh.test."`, "no SRV records"}},
		{name: "only unusable records", srv: discovery.SRV{Name: "_nats-route._tcp.unusable.mesh.test."}, noSeeds: true,
			wantMsg: []string{`"_nats-route._tcp.unusable.mesh.test."`, "no usable records", ".:4248", "n1.mesh.test.:0"}},
		{name: "server failure", srv: discovery.SRV{Name: "broken.mesh.test."},
			wantMsg: []string{`SRV name "broken.mesh.test."`, "server misbehaving"}},
		{name: "no name", srv: discovery.SRV{Service: "nats-route", Proto: "tcp"}, wantMsg: []string{"no Name"}},
		{name: "service without proto", srv: discovery.SRV{Service: "nats-route", Name: "mesh.test."},
			wantMsg: []string{"both Service and Proto", `Service "nats-route", Proto ""`}},
		{name: "proto without service", srv: discovery.SRV{Proto: "tcp", Name: "mesh.test."},
			wantMsg: []string{"both Service and Proto"}},
		{name: "bad name", srv: discovery.SRV{Name: "bad name"}, wantMsg: []string{`"bad name"`, "not a valid DNS name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tt.srv.Resolver = srv.resolver()
			got, err := tt.srv.Discover(ctx)
			require.Error(t, err)
			assert.Nil(t, got)
			assert.ErrorIs(t, err, discovery.ErrDiscovery)
			assert.Equal(t, tt.noSeeds, errors.Is(err, discovery.ErrNoSeeds), "matches ErrNoSeeds: %v", err)
			for _, m := range tt.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestProviderStrings(t *testing.T) {
	assert.Equal(t, "dns(nats.mesh.test:4248)", fmt.Sprint(discovery.DNS{Name: "nats.mesh.test", Port: 4248}))
	assert.Equal(t, "dns(nats-route://nats.mesh.test:4248)", fmt.Sprint(discovery.DNS{Name: "nats.mesh.test", Port: 4248, Scheme: "nats-route"}))
	assert.Equal(t, "srv(_nats-route._tcp.mesh.test)", fmt.Sprint(discovery.SRV{Service: "nats-route", Proto: "tcp", Name: "mesh.test"}))
	assert.Equal(t, `file("/etc/seeds")`, fmt.Sprint(&discovery.File{Path: "/etc/seeds"}))
	st, err := discovery.Static("nats://u:secret@a:1", "nats://b:2")
	require.NoError(t, err)
	assert.Equal(t, "static(nats://u:xxxxx@a:1 nats://b:2)", fmt.Sprint(st))
	assert.Equal(t, "multi(static(nats://u:xxxxx@a:1 nats://b:2), srv(_x._tcp.m))",
		fmt.Sprint(discovery.Multi(st, nil, discovery.SRV{Service: "x", Proto: "tcp", Name: "m"})))
}

// strs returns the URLs as strings.
func strs(urls []*url.URL) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u.String()
	}
	return out
}
