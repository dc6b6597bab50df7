package mesh

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefusalsReportedOncePerInterval: refusals from one host are reported
// (hook and log) once per refusalInterval, with the count of those left
// out; other route errors and other hosts are not held back.
func TestRefusalsReportedOncePerInterval(t *testing.T) {
	var got []RouteError
	l := newServerLog(slog.New(slog.NewTextHandler(io.Discard, nil)), "a", nil)
	l.onRouteError = func(e RouteError) { got = append(got, e) }
	refuse := func(remote string) {
		l.Errorf(remote+" - rid:7 - TLS route handshake error: %v", "remote error: tls: bad certificate")
	}
	for range 5 {
		refuse("10.0.0.9:40001")
	}
	refuse("10.0.0.8:40001")
	assert.Equal(t, "10.0.0.8:40001", l.lastRouteError().Remote)
	// Another reason from the same host: another intruder.
	l.Errorf("10.0.0.9:40002 - rid:9 - TLS route handshake error: %v", "tls: first record does not look like a TLS handshake")
	l.Errorf("10.0.0.9:40001 - rid:8 - %s", "Router Error 'something else'")
	require.Len(t, got, 4)
	assert.True(t, got[0].Refused)
	assert.Equal(t, "10.0.0.8:40001", got[1].Remote)
	assert.Equal(t, "10.0.0.9:40002", got[2].Remote)
	assert.False(t, got[3].Refused)
	assert.Equal(t, "TLS route handshake error: remote error: tls: bad certificate", got[0].Message)

	// An interval later: reported again, with the count.
	l.mu.Lock()
	l.refusals["10.0.0.9 TLS route handshake error: remote error: tls: bad certificate"].reported = time.Now().Add(-refusalInterval)
	l.mu.Unlock()
	refuse("10.0.0.9:40555")
	require.Len(t, got, 5)
	assert.Equal(t, 4, got[4].Suppressed)
}

// TestRefusalsFromManyPlaces: ports in a reason do not make it new, and
// refusals from more hosts than are counted apart share one count.
func TestRefusalsFromManyPlaces(t *testing.T) {
	reports := 0
	l := newServerLog(slog.New(slog.NewTextHandler(io.Discard, nil)), "a", nil)
	l.onRouteError = func(RouteError) { reports++ }
	for port := range 100 {
		l.Errorf("10.0.0.9:%d - rid:7 - TLS route handshake error: read tcp 10.0.0.1:4248->10.0.0.9:%d: i/o timeout", 40000+port, 40000+port)
	}
	assert.Equal(t, 1, reports, "one host, one reason")
	for i := range 3 * maxRefusalKeys {
		l.Errorf("10.%d.%d.%d:40000 - rid:7 - TLS route handshake error: tls: bad certificate", i>>16&255, i>>8&255, i&255)
	}
	assert.Equal(t, maxRefusalKeys+1, reports, "the first maxRefusalKeys-1 hosts, then one for the rest")
	l.mu.Lock()
	assert.LessOrEqual(t, len(l.refusals), maxRefusalKeys+1)
	l.mu.Unlock()
}
