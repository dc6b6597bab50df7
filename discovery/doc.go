// Package discovery turns what a user writes into addresses: bind hosts
// given as IPs, host names or go-sockaddr templates, and seed route URLs.
package discovery
