// Package address checks and resolves what users write as addresses, for
// the packages options, discovery and mesh: bind hosts (IPs, host names,
// go-sockaddr templates), advertise addresses and seed route URLs, and
// masks the passwords in URLs for messages.
package address

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	sockaddr "github.com/hashicorp/go-sockaddr/template"

	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// ErrAddress is matched by every error ResolveHost and ResolveAdvertise
// return.
var ErrAddress = errors.New(errprefix.Prefix + "bad address")

// ResolveHost turns a bind address into one host: an IP literal or host
// name is returned as it is (after a syntax check); a go-sockaddr template
// such as `{{ GetPrivateIP }}` is evaluated and must yield exactly one
// address. "" is returned as "".
func ResolveHost(spec string) (string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return "", nil
	}
	one, err := expand(spec)
	if err != nil {
		return "", err
	}
	return checkHost(one, spec)
}

// expand evaluates a go-sockaddr template, which must yield exactly one
// word; text without a template is returned as it is.
func expand(spec string) (string, error) {
	if !strings.Contains(spec, "{{") {
		return spec, nil
	}
	out, err := sockaddr.Parse(spec)
	if err != nil {
		return "", fmt.Errorf("%w: template %q: %w", ErrAddress, spec, err)
	}
	fields := strings.Fields(out)
	switch len(fields) {
	case 0:
		return "", fmt.Errorf("%w: template %q yielded no address", ErrAddress, spec)
	case 1:
		return fields[0], nil
	default:
		return "", fmt.Errorf("%w: template %q yielded %d addresses (%s); narrow it to one",
			ErrAddress, spec, len(fields), strings.Join(fields, " "))
	}
}

// ResolveAdvertise turns an advertise address, "host" or "host:port" (the
// host an IP, a host name or a go-sockaddr template such as
// `{{ GetPrivateIP }}:4248`), into a host and a port; port is 0 when the
// spec has none (the listener's port is meant). "" is returned as "", 0.
// A wildcard IP (0.0.0.0, ::) is refused: peers cannot dial it.
func ResolveAdvertise(spec string) (host string, port int, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return "", 0, nil
	}
	one, err := expand(spec)
	if err != nil {
		return "", 0, err
	}
	h, p := one, ""
	if sh, sp, splitErr := net.SplitHostPort(one); splitErr == nil {
		h, p = sh, sp
	}
	if p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("%w: %q: port %q, want 1-65535", ErrAddress, spec, p)
		}
	}
	host, err = checkHost(h, spec)
	if err != nil {
		return "", 0, err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", 0, fmt.Errorf("%w: %q: a wildcard address cannot be advertised; give the address peers should dial", ErrAddress, spec)
	}
	return host, port, nil
}

func checkHost(h, spec string) (string, error) {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), nil
	}
	if !ValidHostname(h) {
		return "", fmt.Errorf("%w: %q is neither an IP, a host name nor a go-sockaddr template", ErrAddress, spec)
	}
	return h, nil
}

// ValidHostname reports whether h is a host name. It follows RFC 1123 loosely: labels of letters, digits and
// hyphens (underscores allowed, as in DNS service names), separated by dots.
func ValidHostname(h string) bool {
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
