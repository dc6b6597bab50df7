package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/discovery"
	"github.com/natsmesh/natsmesh/internal/address"
)

func TestStatic(t *testing.T) {
	tests := []struct {
		name string
		urls []string
		want []string
	}{
		{name: "none", urls: nil, want: []string{}},
		{name: "blank only", urls: []string{"", "  "}, want: []string{}},
		{name: "one", urls: []string{"nats://10.0.0.5:4248"}, want: []string{"nats://10.0.0.5:4248"}},
		{
			name: "order kept",
			urls: []string{"nats://c:3", "nats-route://a:1", "nats://b:2"},
			want: []string{"nats://c:3", "nats-route://a:1", "nats://b:2"},
		},
		{
			name: "duplicates dropped",
			urls: []string{"nats://b:2", "nats://a:1", " nats://b:2/ ", "NATS://B:2", "nats://a:1"},
			want: []string{"nats://b:2", "nats://a:1"},
		},
		{
			name: "same host, other credentials or scheme: different seeds",
			urls: []string{"nats://a:1", "nats://u:p@a:1", "nats-route://a:1"},
			want: []string{"nats://a:1", "nats://u:p@a:1", "nats-route://a:1"},
		},
		{name: "IPv6", urls: []string{"nats://[::1]:4248"}, want: []string{"nats://[::1]:4248"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := discovery.Static(tt.urls...)
			require.NoError(t, err)
			got, err := p.Discover(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.want, strs(got))
		})
	}
}

func TestStaticErrors(t *testing.T) {
	tests := []struct {
		name    string
		urls    []string
		wantMsg []string
	}{
		{name: "no scheme", urls: []string{"nats://a:1", "10.0.0.5:4248"},
			wantMsg: []string{"static seed 1", `"10.0.0.5:4248"`, "no scheme"}},
		{name: "bad scheme", urls: []string{"http://a:1"}, wantMsg: []string{"static seed 0", `scheme "http"`}},
		{name: "no port", urls: []string{"nats://a"}, wantMsg: []string{`"nats://a"`, "missing port"}},
		{name: "password masked", urls: []string{"nats://u:T0pS3cr3t@a:0"}, wantMsg: []string{`"nats://u:xxxxx@a:0"`}},
		{name: "first bad one named", urls: []string{"x", "y"}, wantMsg: []string{"static seed 0", `"x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := discovery.Static(tt.urls...)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, discovery.ErrDiscovery)
			assert.ErrorIs(t, err, discovery.ErrSeed)
			assert.NotContains(t, err.Error(), "T0pS3cr3t")
			for _, m := range tt.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestStaticCopies(t *testing.T) {
	p, err := discovery.Static("nats://a:1")
	require.NoError(t, err)
	got, err := p.Discover(context.Background())
	require.NoError(t, err)
	got[0].Host = "changed:2"
	got, err = p.Discover(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"nats://a:1"}, strs(got))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Discover(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, discovery.ErrDiscovery)
}

func TestMulti(t *testing.T) {
	static := func(urls ...string) discovery.Provider {
		p, err := discovery.Static(urls...)
		require.NoError(t, err)
		return p
	}
	failing := func(err error) discovery.Provider {
		return discovery.ProviderFunc(func(context.Context) ([]*url.URL, error) { return nil, err })
	}
	noSeeds := fmt.Errorf("%w: test source knows no node", discovery.ErrNoSeeds)
	broken := fmt.Errorf("%w: test source is broken", discovery.ErrDiscovery)
	foreign := errors.New("an error of some other provider")

	tests := []struct {
		name      string
		providers []discovery.Provider
		want      []string
		noSeeds   bool     // fails, matching ErrNoSeeds
		wantMsg   []string // fails, with these in the message
	}{
		{name: "none", want: []string{}},
		{name: "nil providers ignored", providers: []discovery.Provider{nil, static("nats://a:1"), nil}, want: []string{"nats://a:1"}},
		{name: "all empty", providers: []discovery.Provider{static(), static()}, want: []string{}},
		{
			name:      "merged in order, without duplicates",
			providers: []discovery.Provider{static("nats://b:2", "nats://a:1"), static("nats://a:1", "nats://c:3")},
			want:      []string{"nats://b:2", "nats://a:1", "nats://c:3"},
		},
		{
			name:      "failures tolerated",
			providers: []discovery.Provider{failing(broken), static("nats://a:1"), failing(noSeeds)},
			want:      []string{"nats://a:1"},
		},
		{
			name:      "a failure beside an empty list",
			providers: []discovery.Provider{failing(broken), static()},
			want:      []string{},
		},
		{
			name:      "all failed",
			providers: []discovery.Provider{failing(broken), failing(noSeeds), failing(foreign)},
			noSeeds:   true, // one of them matches it
			wantMsg:   []string{"all 3 seed providers failed", "test source is broken", "knows no node", "some other provider"},
		},
		{
			name:      "all found no seeds",
			providers: []discovery.Provider{failing(noSeeds), failing(noSeeds)},
			noSeeds:   true,
			wantMsg:   []string{"all 2 seed providers failed"},
		},
		{
			name:      "all broken",
			providers: []discovery.Provider{failing(broken), failing(foreign)},
			wantMsg:   []string{"all 2 seed providers failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := discovery.Multi(tt.providers...).Discover(context.Background())
			if tt.wantMsg == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, strs(got))
				return
			}
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

// TestMultiConcurrent checks that Multi asks its providers at once: a
// provider that hangs until the deadline does not hold up the others' answer
// beyond it, nor do two slow ones add up.
func TestMultiConcurrent(t *testing.T) {
	const slow = 200 * time.Millisecond
	hang := discovery.ProviderFunc(func(ctx context.Context) ([]*url.URL, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("%w: hung: %w", discovery.ErrDiscovery, ctx.Err())
	})
	slowStatic := func(raw string) discovery.Provider {
		return discovery.ProviderFunc(func(ctx context.Context) ([]*url.URL, error) {
			select {
			case <-time.After(slow):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			u, err := address.ParseSeed(raw)
			return []*url.URL{u}, err
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*slow)
	defer cancel()
	start := time.Now()
	got, err := discovery.Multi(slowStatic("nats://a:1"), hang, slowStatic("nats://b:2")).Discover(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"nats://a:1", "nats://b:2"}, strs(got))
	assert.Less(t, time.Since(start), 3*slow+time.Second)
}
