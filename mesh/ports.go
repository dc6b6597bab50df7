package mesh

import (
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// freeTCPPort returns a port free on host at the time of the call, for
// the node to listen on a moment later. A port the kernel hands out for
// ":0" comes from the ephemeral range, where any outgoing connection may
// take it in that moment (seen with tests in parallel), so on Linux the
// port is drawn from below that range, which outgoing connections never
// use; elsewhere, or if there is no room below it, from ":0".
func freeTCPPort(host string) (int, error) {
	if low := ephemeralLow(); low > ownPortsLow+100 {
		for range 50 {
			port := ownPortsLow + mrand.IntN(low-ownPortsLow)
			if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port))); err == nil {
				ln.Close()
				return port, nil
			}
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ownPortsLow is the lowest port freeTCPPort draws: above the well-known
// and most registered services' ports.
const ownPortsLow = 10000

// ephemeralLow returns the lowest port of Linux's ephemeral range, or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	low, _ := strconv.Atoi(f[0])
	return low
}
