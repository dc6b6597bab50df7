package mesh

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/options"
)

// TestRedactor: CONNECT lines keep only fields without credentials, even
// when nats-server's own masking was cut short by the password's
// characters; known secrets are replaced anywhere; hook text is bounded.
func TestRedactor(t *testing.T) {
	n, err := newConfig(options.Options{Users: []options.User{{Name: "alice", Password: "alicepw,TAIL-1"}}, Token: "tok}TAIL-22"})
	require.NoError(t, err)
	r := newRedactor(n)
	line := r.line(`127.0.0.1:5000 - cid:7 - <<- [CONNECT {"verbose":false,"user":"alice","pass":"[REDACTED],TAIL-1","auth_token":"[REDACTED]}TAIL-22","name":"app","lang":"go","version":"1.55.0"}]`)
	assert.NotContains(t, line, "TAIL")
	assert.Contains(t, line, "name=app")
	assert.Contains(t, line, "user=alice")
	assert.Equal(t, "x [REDACTED] y", r.line("x alicepw,TAIL-1 y"))
	long := r.hookText("CN=" + strings.Repeat("A\r\n", 1000))
	assert.LessOrEqual(t, len(long), maxRemoteText+3)
	assert.NotContains(t, long, "\n")
}
