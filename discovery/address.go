package discovery

import (
	"errors"
	"fmt"
	"net"
	"strings"

	sockaddr "github.com/hashicorp/go-sockaddr/template"
)

// ErrAddress is matched by every error ResolveHost returns.
var ErrAddress = errors.New("bad address")

// ResolveHost turns a bind address into one host: an IP literal or host
// name is returned as it is (after a syntax check); a go-sockaddr template
// such as `{{ GetPrivateIP }}` is evaluated and must yield exactly one
// address. "" is returned as "".
func ResolveHost(spec string) (string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return "", nil
	}
	if strings.Contains(spec, "{{") {
		out, err := sockaddr.Parse(spec)
		if err != nil {
			return "", fmt.Errorf("%w: template %q: %w", ErrAddress, spec, err)
		}
		fields := strings.Fields(out)
		switch len(fields) {
		case 0:
			return "", fmt.Errorf("%w: template %q yielded no address", ErrAddress, spec)
		case 1:
			return checkHost(fields[0], spec)
		default:
			return "", fmt.Errorf("%w: template %q yielded %d addresses (%s); narrow it to one",
				ErrAddress, spec, len(fields), strings.Join(fields, " "))
		}
	}
	return checkHost(spec, spec)
}

func checkHost(h, spec string) (string, error) {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), nil
	}
	if !validHostname(h) {
		return "", fmt.Errorf("%w: %q is neither an IP, a host name nor a go-sockaddr template", ErrAddress, spec)
	}
	return h, nil
}

// validHostname follows RFC 1123 loosely: labels of letters, digits and
// hyphens (underscores allowed, as in DNS service names), separated by dots.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			ok := r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
			if !ok {
				return false
			}
		}
	}
	return true
}
