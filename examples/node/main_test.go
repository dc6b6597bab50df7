package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/internal/testpki"
)

// Every password the tests use holds "s3cret"; the mesh secrets are
// random, and checked by value.
const (
	alicePass = "alice-s3cret-pw"
	opPass    = "op-s3cret-pw"
	marker    = "s3cret"
)

// running is a node run in process by run.
type running struct {
	out, err *syncbuf.Buffer
	stop     chan os.Signal
	code     chan int
}

// startNode runs the program with args and env until the test ends (or
// stopNode), and returns once the node is ready.
func startNode(t *testing.T, args []string, env map[string]string) *running {
	t.Helper()
	r := &running{out: &syncbuf.Buffer{}, err: &syncbuf.Buffer{}, stop: make(chan os.Signal, 1), code: make(chan int, 1)}
	go func() {
		r.code <- run(args, lookup(env), r.out, r.err, r.stop)
	}()
	t.Cleanup(func() { r.stopNode(t) })
	waitFor(t, "node ready", func() bool {
		select {
		case c := <-r.code:
			t.Fatalf("node exited with %d:\n%s%s", c, r.out, r.err)
		default:
		}
		return strings.Contains(r.out.String(), " ready: ")
	})
	return r
}

// stopNode sends SIGTERM and waits for a graceful exit.
func (r *running) stopNode(t *testing.T) {
	t.Helper()
	if r.stop == nil {
		return
	}
	r.stop <- syscall.SIGTERM
	r.stop = nil
	select {
	case c := <-r.code:
		if c != 0 {
			t.Errorf("node exited with %d:\n%s%s", c, r.out, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("node did not exit after SIGTERM:\n%s", r.out)
	}
}

var readyRE = regexp.MustCompile(` ready: clients (\S+)  routes (\S+)`)

// urls returns the node's client and route URLs, from its ready line.
func (r *running) urls(t *testing.T) (client, route string) {
	t.Helper()
	m := readyRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatalf("no ready line:\n%s", r.out)
	}
	return m[1], m[2]
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runOnce runs a subcommand and returns its exit code and output.
func runOnce(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errb syncbuf.Buffer
	code = run(args, lookup(env), &out, &errb, nil)
	return code, out.String(), errb.String()
}

// newSecretFile makes a secret with `node secret` and returns its path and
// value.
func newSecretFile(t *testing.T, dir, name string) (path, secret string) {
	t.Helper()
	path = filepath.Join(dir, name)
	code, out, errs := runOnce([]string{"secret", path}, nil)
	if code != 0 {
		t.Fatalf("node secret: %d %s%s", code, out, errs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(b))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// noSecrets fails the test if any of texts shows a secret or a password.
func noSecrets(t *testing.T, secrets []string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, s := range append([]string{marker}, secrets...) {
			if strings.Contains(text, s) {
				t.Errorf("output shows a secret (%d bytes):\n%s", len(s), strings.ReplaceAll(text, s, "<SECRET>"))
			}
		}
	}
}

func TestSecretCommand(t *testing.T) {
	dir := t.TempDir()
	path, secret := newSecretFile(t, dir, "mesh.secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	if len(secret) != 43 {
		t.Errorf("secret is %d bytes, want 43", len(secret))
	}
	// Never overwritten, and never shown.
	code, out, errs := runOnce([]string{"secret", path}, nil)
	if code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("second node secret: exit %d, %q; want 1 and file exists", code, errs)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != secret {
		t.Error("the secret file was overwritten")
	}
	_, out2, _ := runOnce([]string{"secret", filepath.Join(dir, "other")}, nil)
	noSecrets(t, []string{secret}, out, errs, out2)
	for _, args := range [][]string{{"secret"}, {"secret", "a", "b"}, {"secret", "-h"}} {
		if code, _, _ := runOnce(args, nil); code != 2 {
			t.Errorf("node %v: exit %d, want 2", args, code)
		}
	}
}

// TestBadFlags checks that the node refuses bad security flags with exit
// code 2, the flag's name and its usage, and shows no secret.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	writeFile(t, short, "s3cret-short\n")
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--secret_file", short}, nil, "--secret_file"},
		{[]string{"--secret_file", filepath.Join(dir, "missing")}, nil, "no such file"},
		{nil, map[string]string{"NATSMESH_SECRET": "s3cret-short"}, "NATSMESH_SECRET"},
		{[]string{"--user", "alice"}, nil, "needs a password"},
		{[]string{"--pass", alicePass}, nil, "--user, which is not given"},
		{[]string{"--tls"}, nil, "--tlscert"},
		{[]string{"-p", "99999"}, nil, `-p="99999"`},
		{[]string{"-port", "4222", "-m", "4222"}, nil, `-m="4222": is also -port`},
		{[]string{"stock-tls", "--secret_file", short, "--dir", dir}, nil, "--secret_file"},
		{[]string{"stock-tls", "--dir", dir}, nil, "needs the mesh's secret"},
		{[]string{"stock-tls", "--host", "127.0.0.1"}, nil, "--dir is required"},
		{[]string{"stock-tls", "--dir", dir, "extra"}, nil, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runOnce(tt.args, tt.env)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errs, tt.want) || !strings.Contains(errs, "Usage:") {
				t.Errorf("stderr lacks %q or the usage:\n%s", tt.want, errs)
			}
			noSecrets(t, nil, out, errs)
		})
	}
}

// TestSecureMesh runs the README's secure mesh in process: three nodes
// sealed by one secret (from a file or the environment), a client user and
// an operator login; a node with another secret is kept out.
func TestSecureMesh(t *testing.T) {
	dir := t.TempDir()
	secretFile, secret := newSecretFile(t, dir, "mesh.secret")
	_, otherSecret := newSecretFile(t, dir, "other.secret")
	passFile, opFile := filepath.Join(dir, "alice.pass"), filepath.Join(dir, "op.pass")
	writeFile(t, passFile, alicePass+"\n")
	writeFile(t, opFile, opPass+"\n")

	common := []string{"-p", "-1", "--user", "alice", "--system_user", "op"}
	a := startNode(t, append([]string{"-n", "a", "--cluster", "nats://127.0.0.1:-1", "--secret_file", secretFile,
		"--pass_file", passFile, "--system_pass_file", opFile}, common...), nil)
	aClient, aRoute := a.urls(t)
	b := startNode(t, append([]string{"-n", "b", "--cluster", "nats://127.0.0.1:-1", "--routes", aRoute,
		"--secret_file", secretFile, "--pass_file", passFile, "--system_pass_file", opFile}, common...), nil)
	c := startNode(t, append([]string{"-n", "c", "--cluster", "nats://127.0.0.1:-1", "--routes", aRoute}, common...),
		map[string]string{"NATSMESH_SECRET": secret, "NATSMESH_PASS": alicePass, "NATSMESH_SYSTEM_PASS": opPass})
	nodes := map[string]*running{"a": a, "b": b, "c": c}
	for name, n := range nodes {
		waitFor(t, name+" sees two peers", func() bool { return strings.Count(n.out.String(), " joined ") == 2 })
		if !strings.Contains(n.out.String(), "security: routes sealed by a secret; clients log in (user alice); operator login op") {
			t.Errorf("%s does not say how it is secured:\n%s", name, n.out)
		}
	}
	cClient, _ := c.urls(t)

	// Clients: alice's messages cross the mesh; anonymous clients and
	// wrong passwords are refused.
	for _, bad := range []nats.Option{nats.Name("anonymous"), nats.UserInfo("alice", "wrong"), nats.UserInfo("op", alicePass)} {
		if nc, err := nats.Connect(aClient, bad, nats.NoReconnect()); err == nil {
			nc.Close()
			t.Error("a client without the right credentials connected")
		}
	}
	sub, err := nats.Connect(cClient, nats.UserInfo("alice", alicePass))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs := make(chan *nats.Msg, 64)
	if _, err := sub.ChanSubscribe("orders", msgs); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	pub, err := nats.Connect(aClient, nats.UserInfo("alice", alicePass))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// Interest crosses the route asynchronously: publish until it arrives.
	waitFor(t, "a message from a to c", func() bool {
		if err := pub.Publish("orders", []byte("created")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			return string(m.Data) == "created"
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})

	// The operator sees every server, as `nats server list` does.
	op, err := nats.Connect(aClient, nats.UserInfo("op", opPass))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if got := pingServers(t, op, 3); got != 3 {
		t.Errorf("operator ping: %d servers answered, want 3", got)
	}

	// A node with another secret is refused, and never joins.
	x := startNode(t, []string{"-n", "x", "-p", "-1", "--cluster", "nats://127.0.0.1:-1", "--routes", aRoute},
		map[string]string{"NATSMESH_SECRET": otherSecret})
	waitFor(t, "x refused", func() bool { return strings.Contains(x.err.String(), "unknown authority") })
	x.stopNode(t)
	for name, n := range nodes {
		if strings.Contains(n.out.String(), " x ") {
			t.Errorf("%s saw x:\n%s", name, n.out)
		}
	}

	for _, n := range nodes {
		n.stopNode(t)
	}
	for name, n := range map[string]*running{"a": a, "b": b, "c": c, "x": x} {
		t.Run(name, func(t *testing.T) {
			noSecrets(t, []string{secret, otherSecret, alicePass, opPass}, n.out.String(), n.err.String())
		})
	}
}

// pingServers asks every server of the mesh to answer, as `nats server
// ping` does, and returns how many did (waiting until want did, or 5 s).
func pingServers(t *testing.T, nc *nats.Conn, want int) int {
	t.Helper()
	inbox := nats.NewInbox()
	replies, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer replies.Unsubscribe()
	if err := nc.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	for n < want {
		if _, err := replies.NextMsgWithContext(ctx); err != nil {
			break
		}
		n++
	}
	return n
}

// TestStockTLSTemplate checks that `node stock-tls` writes the address a
// go-sockaddr template in --cluster stands for, not the template.
func TestStockTLSTemplate(t *testing.T) {
	dir := t.TempDir()
	_, secret := newSecretFile(t, dir, "mesh.secret")
	loopback := `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`
	code, out, errs := runOnce([]string{"stock-tls", "--dir", filepath.Join(dir, "stock"), "--host", "127.0.0.1",
		"--cluster", "nats://" + loopback + ":-1"}, map[string]string{"NATSMESH_SECRET": secret})
	if code != 0 {
		t.Fatalf("node stock-tls: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, `listen: "127.0.0.1:-1"`) {
		t.Errorf("the cluster block lacks the resolved listen address:\n%s", out)
	}
	noSecrets(t, []string{secret}, out, errs)
}

// TestStockTLS writes a stock nats-server's files with `node stock-tls`
// and starts a stock nats-server process with the printed cluster block:
// it joins a mesh sealed by the secret and carries messages both ways.
func TestStockTLS(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "nats-server")
	if b, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, b)
	}
	secretFile, secret := newSecretFile(t, dir, "mesh.secret")
	a := startNode(t, []string{"-n", "a", "-p", "-1", "--cluster", "nats://127.0.0.1:-1", "--secret_file", secretFile}, nil)
	aClient, aRoute := a.urls(t)

	code, out, errs := runOnce([]string{"stock-tls", "--dir", filepath.Join(dir, "stock"), "--host", "127.0.0.1",
		"--cluster", "nats://127.0.0.1:-1", "--routes", aRoute}, map[string]string{"NATSMESH_SECRET": secret})
	if code != 0 {
		t.Fatalf("node stock-tls: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{`name: "natsmesh"`, `listen: "127.0.0.1:-1"`, `routes: ["` + aRoute + `"]`, "tls {", "verify: true", "route-key.pem"} {
		if !strings.Contains(out, want) {
			t.Errorf("block lacks %q:\n%s", want, out)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "stock", "route-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", fi, err)
	}
	conf := filepath.Join(dir, "stock.conf")
	writeFile(t, conf, "server_name: stock\nhost: 127.0.0.1\nport: -1\n"+out)

	var stockOut syncbuf.Buffer
	stock := exec.Command(bin, "-c", conf)
	stock.Stdout, stock.Stderr = &stockOut, &stockOut
	if err := stock.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- stock.Wait() }()
	t.Cleanup(func() {
		_ = stock.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("stock nats-server:\n%s", stockOut.String())
		}
	})
	waitFor(t, "the stock server joins a", func() bool { return strings.Contains(a.out.String(), "+ stock ") })
	m := regexp.MustCompile(`Listening for client connections on (\S+)`).FindStringSubmatch(stockOut.String())
	if m == nil {
		t.Fatalf("no client port in the stock server's log:\n%s", stockOut.String())
	}
	stockClient := "nats://" + m[1]

	// Messages both ways: stock to a, a to stock.
	for _, dir := range []struct{ name, from, to string }{{"stock to a", stockClient, aClient}, {"a to stock", aClient, stockClient}} {
		t.Run(dir.name, func(t *testing.T) {
			sub, err := nats.Connect(dir.to)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			msgs := make(chan *nats.Msg, 64)
			if _, err := sub.ChanSubscribe("x", msgs); err != nil {
				t.Fatal(err)
			}
			if err := sub.Flush(); err != nil {
				t.Fatal(err)
			}
			pub, err := nats.Connect(dir.from)
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			waitFor(t, "a message across the route", func() bool {
				if err := pub.Publish("x", []byte("hi")); err != nil {
					t.Fatal(err)
				}
				select {
				case <-msgs:
					return true
				case <-time.After(50 * time.Millisecond):
					return false
				}
			})
		})
	}
	noSecrets(t, []string{secret}, out, errs, a.out.String(), a.err.String(), stockOut.String())
}

// writePKI writes a CA (ca.pem) and, for each name, a certificate for
// 127.0.0.1 signed by it (NAME.pem, NAME-key.pem), made now: no key is
// committed.
func writePKI(t *testing.T, dir string, names ...string) {
	t.Helper()
	ca, err := testpki.New("test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WritePEM(dir, names...); err != nil {
		t.Fatal(err)
	}
}

// TestOwnPKI runs two nodes whose routes use the application's own
// certificates (--cluster_tls*) and whose client ports use TLS (--tls*),
// one of them requiring client certificates.
func TestOwnPKI(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir, "a", "b")
	f := func(name string) string { return filepath.Join(dir, name) }
	a := startNode(t, []string{"-n", "a", "-p", "-1", "--cluster", "nats://127.0.0.1:-1",
		"--cluster_tlscert", f("a.pem"), "--cluster_tlskey", f("a-key.pem"), "--cluster_tlscacert", f("ca.pem"),
		"--tlscert", f("a.pem"), "--tlskey", f("a-key.pem")}, nil)
	aClient, aRoute := a.urls(t)
	b := startNode(t, []string{"-n", "b", "-p", "-1", "--cluster", "nats://127.0.0.1:-1", "--routes", aRoute,
		"--cluster_tlscert", f("b.pem"), "--cluster_tlskey", f("b-key.pem"), "--cluster_tlscacert", f("ca.pem"),
		"--tlscert", f("b.pem"), "--tlskey", f("b-key.pem"), "--tlscacert", f("ca.pem"), "--tlsverify"}, nil)
	bClient, _ := b.urls(t)
	for name, n := range map[string]*running{"a": a, "b": b} {
		waitFor(t, name+" sees its peer", func() bool { return strings.Count(n.out.String(), " joined ") == 1 })
		if !strings.Contains(n.out.String(), "security: routes: TLS with own certificates; anonymous clients allowed; client TLS") {
			t.Errorf("%s does not say how it is secured:\n%s", name, n.out)
		}
	}

	// Clients: TLS with the CA on a; b wants a client certificate too.
	// A refused client must not fall over to the other node, which does
	// not ask for a certificate: no discovered servers.
	ok := []struct {
		url  string
		opts []nats.Option
	}{
		{aClient, []nats.Option{nats.RootCAs(f("ca.pem"))}},
		{bClient, []nats.Option{nats.RootCAs(f("ca.pem")), nats.ClientCert(f("a.pem"), f("a-key.pem"))}},
	}
	for _, c := range ok {
		nc, err := nats.Connect(c.url, append(c.opts, nats.IgnoreDiscoveredServers())...)
		if err != nil {
			t.Errorf("TLS client to %s: %v", c.url, err)
			continue
		}
		if _, err := nc.TLSConnectionState(); err != nil {
			t.Errorf("client to %s is not on TLS: %v", c.url, err)
		}
		nc.Close()
	}
	for _, c := range []struct {
		url  string
		opts []nats.Option
	}{
		{aClient, nil}, // no CA: the node's certificate is not trusted
		{bClient, []nats.Option{nats.RootCAs(f("ca.pem"))}}, // no client certificate
	} {
		if nc, err := nats.Connect(c.url, append(c.opts, nats.IgnoreDiscoveredServers(), nats.NoReconnect(), nats.Timeout(2*time.Second))...); err == nil {
			t.Errorf("client to %s connected (to %s) without what it needs", c.url, nc.ConnectedUrl())
			nc.Close()
		}
	}
}
