package mesh

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/natsmesh/natsmesh/internal/address"
)

// redactor keeps credentials out of what the node emits: log lines and
// RouteError values. nats-server masks passwords in the CONNECT lines it
// traces, but only up to the first ",", "\"" or "}" in them, so a
// CONNECT line is cut down here to fields that hold no credential; and
// every secret, password and token the node was given is replaced
// wherever it appears.
type redactor struct {
	known *strings.Replacer // nil: nothing to replace
}

const redacted = "[REDACTED]"

func newRedactor(n config, internal ...string) *redactor {
	var pairs []string
	add := func(s string) {
		if s != "" {
			pairs = append(pairs, s, redacted)
		}
	}
	add(n.Secret)
	for _, s := range n.AcceptedSecrets {
		add(s)
	}
	add(n.Token)
	add(n.SystemUser.Password)
	for _, u := range n.Users {
		add(u.Password)
	}
	for _, s := range internal {
		add(s)
	}
	r := &redactor{}
	if len(pairs) > 0 {
		r.known = strings.NewReplacer(pairs...)
	}
	return r
}

// connectSafeField matches the CONNECT fields that are shown: the client's
// name, language, version and user name, and a route's cluster name.
var connectSafeField = regexp.MustCompile(`"(name|lang|version|user|cluster)":"((?:[^"\\]|\\.)*)"`)

// line returns s fit to emit.
func (r *redactor) line(s string) string {
	if i := strings.Index(s, cueConnectProto); i >= 0 {
		var shown []string
		for _, m := range connectSafeField.FindAllStringSubmatch(s[i:], -1) {
			shown = append(shown, m[1]+"="+m[2])
		}
		s = s[:i] + "CONNECT {" + strings.Join(shown, " ") + " (credentials not shown)}]"
	}
	if r != nil && r.known != nil {
		s = r.known.Replace(s)
	}
	return s
}

// maxRemoteText bounds text a remote party chose (a certificate's subject
// in a TLS error, say) in a RouteError.
const maxRemoteText = 512

// hookText returns s fit for a hook value: redacted, without control
// characters, and at most maxRemoteText bytes.
func (r *redactor) hookText(s string) string {
	s = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, r.line(s))
	if len(s) > maxRemoteText {
		s = strings.ToValidUTF8(s[:maxRemoteText], "") + "..."
	}
	return s
}

// redactAll returns seed URLs for the log, any password or token in them
// masked (see address.Redact).
func redactAll(urls []*url.URL) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = address.Redact(u.String())
	}
	return out
}
