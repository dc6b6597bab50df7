package mesh

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// natsServerSource returns the Go source (tests left out) of the
// nats-server version in go.mod, from the module cache.
func natsServerSource(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/nats-io/nats-server/v2").Output()
	require.NoError(t, err, "go list the nats-server module")
	dir := filepath.Join(strings.TrimSpace(string(out)), "server")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		b.Write(src)
	}
	require.NotZero(t, b.Len(), "no nats-server source in %s", dir)
	return b.String()
}

// TestLogCuesPinned: every word of nats-server's log that natsmesh reacts
// to (logcues.go) is in the source of the nats-server version in go.mod,
// as the format string or error text that produces it. A nats-server
// upgrade that rewords one fails here.
func TestLogCuesPinned(t *testing.T) {
	t.Parallel()
	src := natsServerSource(t)
	cases := []struct {
		cue      string
		evidence []string // what in nats-server's source makes the cue
	}{
		{cueRouteCreated, []string{`Noticef("` + cueRouteCreated + `")`}},
		{cueConnClosed, []string{`"%s connection closed: %s"`, `"%s connection closed: %s - %s"`}},
		{cueRouterClosed, []string{`"%s connection closed: %s - %s"`, `"Router",`}},
		{cueRemoteTag, []string{`"%s connection closed: %s - %s"`, `"Remote: %s"`}},
		{cueRouteTag, []string{`"%s - rid:%d"`}},
		{cueClientTag, []string{`"%s - cid:%d"`}},
		{cueFieldSep, []string{`return fmt.Sprintf("%s - %s", s, format)`}},
		{cueDetail, []string{`detail = fmt.Sprintf(" (%s)", strings.Join(subjs, "; "))`, `"TLS %s handshake error: %v%s"`}},
		{cuePlaintextPasswords, []string{cuePlaintextPasswords}},
		{cueFlushError, []string{`"Error flushing: %v"`}},
		{cueRouteDialError, []string{`"Error trying to connect to route (attempt %v): %v"`}},
		{cueDedicatedRoute, []string{cueDedicatedRoute}},
		{cueRegisterAccount, []string{cueRegisterAccount}},
		{cueDuplicateName, []string{`"Remote server has a duplicate name: %q"`}},
		{cueAuthError, []string{`"authentication error"`}},
		{cueTLSHandshakeError, []string{`"TLS %s handshake error: %v%s"`}},
		{cueConnReset, []string{`"TLS %s handshake error: %v%s"`}}, // the error's text: see TestLogCuesOfTheOS
		{cueEOF, []string{`"TLS %s handshake error: %v%s"`}},
		{cueConnectProto, []string{`"CONNECT %s"`}},
		{decommissionedJetStream, []string{decommissionedJetStream}},
		{"routine: snapshot while catching up", []string{`"Error snapshotting JetStream cluster state: %v"`, `"raft: snapshot can not be installed while catchups running"`}},
	}
	// Each refusal cue is pinned to the lines that carry it, not only
	// found somewhere ("cluster name" alone is in many places).
	refusals := map[string][]string{
		cueRefusedTLS:        {`c.Errorf("TLS %s handshake error: %v%s", typ, err, detail)`},
		cueRefusedTLSTimeout: {`c.Errorf("TLS handshake timeout")`},
		cueRefusedCluster:    {`"Rejecting connection, cluster name %q does not match %q"`, `"Rejecting connection, cluster name %q is reserved"`, `c.Errorf(errTxt)`, `c.Errorf("Route Error %s", errStr)`},
		cueRefusedAuth:       {`c.sendErr("Authorization Violation")`, `c.Errorf("Route Error %s", errStr)`},
		cueAuthError:         {`ErrAuthentication = errors.New("authentication error")`, `c.Errorf("%v - %s", ErrAuthentication, c.getAuthUser())`},
		cueRefusedDuplicate:  {`c.Errorf("Remote server has a duplicate name: %q", info.Name)`},
	}
	for _, cue := range refusalCues {
		evidence := refusals[cue]
		if len(evidence) == 0 || !strings.Contains(evidence[0], cue) {
			t.Errorf("refusal cue %q: pin it here to the nats-server line that holds it", cue)
			continue
		}
		cases = append(cases, struct {
			cue      string
			evidence []string
		}{cue, evidence})
	}
	for _, cue := range routineJetStream {
		if strings.HasPrefix(cue, "Error snapshotting") {
			continue // composed of two texts, above
		}
		cases = append(cases, struct {
			cue      string
			evidence []string
		}{cue, []string{cue}})
	}
	for _, tt := range cases {
		for _, e := range tt.evidence {
			if !strings.Contains(src, e) {
				t.Errorf("cue %q: nats-server's source no longer holds %s: see how this version words it and update logcues.go", tt.cue, e)
			}
		}
	}
}

// TestLogCuesOfTheOS: the cues that are the text of an error nats-server
// logs with %v, not of nats-server, match that error's text.
func TestLogCuesOfTheOS(t *testing.T) {
	t.Parallel()
	require.Equal(t, cueConnReset, syscall.ECONNRESET.Error(), "the OS's words for a reset")
	require.Equal(t, cueEOF, ": "+io.EOF.Error(), "io.EOF after the format's \": %v\"")
}
