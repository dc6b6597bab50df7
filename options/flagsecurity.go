package options

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// securityFlags are the flags of Secret, AcceptedSecrets, RouteTLS,
// ClientTLS, Users, Token and SystemUser.
type securityFlags struct {
	secretFile, acceptedFile           string
	clusterCert, clusterKey, clusterCA string
	user, pass, passFile               string
	auth, authFile                     string
	tls, tlsVerify                     bool
	tlsCert, tlsKey, tlsCA             string
	systemUser, systemPassFile         string
}

func (f *securityFlags) define(fs *flag.FlagSet) {
	for _, s := range []struct {
		dst  *string
		name string
	}{
		{&f.secretFile, "secret_file"}, {&f.acceptedFile, "accepted_secrets_file"},
		{&f.clusterCert, "cluster_tlscert"}, {&f.clusterKey, "cluster_tlskey"}, {&f.clusterCA, "cluster_tlscacert"},
		{&f.user, "user"}, {&f.pass, "pass"}, {&f.passFile, "pass_file"},
		{&f.auth, "auth"}, {&f.authFile, "auth_file"},
		{&f.tlsCert, "tlscert"}, {&f.tlsKey, "tlskey"}, {&f.tlsCA, "tlscacert"},
		{&f.systemUser, "system_user"}, {&f.systemPassFile, "system_pass_file"},
	} {
		fs.StringVar(s.dst, s.name, "", s.name)
	}
	fs.BoolVar(&f.tls, "tls", false, "TLS on the client port")
	fs.BoolVar(&f.tlsVerify, "tlsverify", false, "require client certificates")
}

// source is one place a secret may come from: a flag holding it, a flag
// naming a file holding it, or an environment variable.
type source struct {
	name  string // "--pass", "--pass_file", "NATSMESH_PASS"
	set   bool
	value string // the secret, or the file's path
	file  bool
}

// secretFrom returns the secret given by at most one of srcs, and the
// source that gave it (the zero source if none did; the first one given,
// with an error).
func secretFrom(srcs ...source) (secret string, from source, err error) {
	var set []source
	for _, s := range srcs {
		if s.set {
			set = append(set, s)
		}
	}
	switch {
	case len(set) == 0:
		return "", source{}, nil
	case len(set) > 1:
		names := make([]string, len(set))
		for i, s := range set {
			names[i] = s.name
		}
		return "", set[0], fieldErr(set[1].name, set[1].shown(), "give one of %s, not several", strings.Join(names, ", "))
	}
	s := set[0]
	if !s.file {
		if s.value == "" {
			return "", source{}, fieldErr(s.name, masked(0), "must not be empty")
		}
		return s.value, s, nil
	}
	v, err := readValueFile(s.name, s.value)
	return v, s, err
}

// shown is what an error may say of s's value: a file's path, or the
// length of a secret (or of the variable that holds secrets).
func (s source) shown() any {
	if s.file {
		return s.value
	}
	return masked(len(s.value))
}

// readValueFile returns the one line the file at path holds, without its
// trailing newline. Errors name flag and path, not the content.
func readValueFile(flag, path string) (string, error) {
	b, err := readFile(flag, path)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	switch {
	case v == "":
		return "", fieldErr(flag, path, "the file is empty")
	case strings.ContainsAny(v, "\r\n"):
		return "", fieldErr(flag, path, "the file holds more than one line")
	}
	return v, nil
}

func readFile(flag, path string) ([]byte, error) {
	if path == "" {
		return nil, fieldErr(flag, path, "must name a file")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%s: %w", pe.Op, pe.Err) // the path is the Value already
		}
		return nil, &FieldError{Field: flag, Value: path, Err: err}
	}
	return b, nil
}

// apply maps the security flags (and variables) to o, recording in from
// where each field came from. It reads files and loads certificates, and
// refuses flags that cannot be mapped (a missing file, a password without
// its user, a secret given twice); what the values are worth, Normalize
// judges.
func (f *securityFlags) apply(o *Options, a typedArgs, from origins, lookupEnv func(string) (string, bool)) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	env := func(name string) source {
		var v string
		if lookupEnv != nil {
			v, _ = lookupEnv(name)
		}
		return source{name: name, set: v != "", value: v}
	}
	file := func(name string, path string) source {
		return source{name: a.as(name), set: a.given(name), value: path, file: true}
	}
	// took records that field came from src.
	took := func(field string, src source) { from.set(field, src.name, src.shown()) }

	// Routes: a secret, the secrets also accepted, or an own PKI.
	secret, src, err := secretFrom(file("secret_file", f.secretFile), env(EnvSecret))
	add(err)
	if secret != "" {
		o.Secret = secret
		took("Secret", src)
	}
	acceptedFile, acceptedEnv := file("accepted_secrets_file", f.acceptedFile), env(EnvAcceptedSecrets)
	switch {
	case acceptedFile.set && acceptedEnv.set:
		add(fieldErr(EnvAcceptedSecrets, acceptedEnv.shown(), "give one of %s, %s, not several", acceptedFile.name, EnvAcceptedSecrets))
	case acceptedFile.set:
		b, err := readFile(acceptedFile.name, f.acceptedFile)
		add(err)
		for i, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimRight(line, "\r"); line != "" {
				from[fmt.Sprintf("AcceptedSecrets[%d]", len(o.AcceptedSecrets))] = origin{acceptedFile.name, f.acceptedFile, fmt.Sprintf("line %d", i+1)}
				o.AcceptedSecrets = append(o.AcceptedSecrets, line)
			}
		}
		took("AcceptedSecrets", acceptedFile)
	case acceptedEnv.set:
		for i, s := range strings.Split(acceptedEnv.value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				from[fmt.Sprintf("AcceptedSecrets[%d]", len(o.AcceptedSecrets))] = origin{EnvAcceptedSecrets, acceptedEnv.shown(), fmt.Sprintf("secret %d", i+1)}
				o.AcceptedSecrets = append(o.AcceptedSecrets, s)
			}
		}
		took("AcceptedSecrets", acceptedEnv)
	}
	if a.given("cluster_tlscert", "cluster_tlskey", "cluster_tlscacert") {
		cert, key, ca := file("cluster_tlscert", f.clusterCert), file("cluster_tlskey", f.clusterKey), file("cluster_tlscacert", f.clusterCA)
		ok := true
		for _, need := range []source{cert, key, ca} {
			if need.value == "" {
				add(fieldErr(need.name, need.value, "route TLS needs --cluster_tlscert, --cluster_tlskey and --cluster_tlscacert"))
				ok = false
			}
		}
		if ok {
			kp, err := loadKeyPair(cert.name, cert.value, key.name, key.value)
			add(err)
			pool, perr := loadPool(ca.name, ca.value)
			add(perr)
			if err == nil && perr == nil {
				o.RouteTLS = &tls.Config{
					MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert,
					Certificates: []tls.Certificate{kp}, RootCAs: pool, ClientCAs: pool,
				}
				took("RouteTLS", cert)
			}
		}
	}

	// Clients: TLS as nats-server's flags turn it on: any --tls* flag,
	// unless --tls=false.
	if a.given("tls", "tlscert", "tlskey", "tlscacert", "tlsverify") && !(a.given("tls") && !f.tls) {
		cert, key := file("tlscert", f.tlsCert), file("tlskey", f.tlsKey)
		ok := true
		for _, need := range []source{cert, key} {
			if need.value == "" {
				add(fieldErr(need.name, need.value, "TLS on the client port needs --tlscert and --tlskey"))
				ok = false
			}
		}
		if ok {
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			kp, err := loadKeyPair(cert.name, cert.value, key.name, key.value)
			add(err)
			cfg.Certificates = []tls.Certificate{kp}
			if f.tlsVerify {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
			}
			var perr error
			if a.given("tlscacert") {
				cfg.ClientCAs, perr = loadPool(a.as("tlscacert"), f.tlsCA)
				add(perr)
			}
			if err == nil && perr == nil {
				o.ClientTLS = cfg
				took("ClientTLS", cert)
			}
		}
	}

	// Clients: a user, a token; operators: the system user.
	for _, u := range []struct {
		flag, name string
		dst        *User
		field      string
		pass       []source
		needs      string
	}{
		{"user", f.user, nil, "Users[0]", []source{
			{name: a.as("pass"), set: a.given("pass"), value: f.pass}, file("pass_file", f.passFile), env(EnvPass),
		}, "--pass_file, " + EnvPass + " or --pass"},
		{"system_user", f.systemUser, &o.SystemUser, "SystemUser", []source{
			file("system_pass_file", f.systemPassFile), env(EnvSystemPass),
		}, "--system_pass_file or " + EnvSystemPass},
	} {
		pass, src, err := secretFrom(u.pass...)
		add(err)
		switch {
		case !a.given(u.flag):
			if src.set {
				add(fieldErr(src.name, "", "is a password for --%s, which is not given", u.flag))
			}
		case !src.set:
			add(fieldErr(a.as(u.flag), u.name, "needs a password: %s", u.needs))
		case pass != "":
			if u.dst != nil {
				*u.dst = User{Name: u.name, Password: pass}
			} else {
				o.Users = []User{{Name: u.name, Password: pass}}
			}
			from.set(u.field+".Name", a.as(u.flag), nil)
			took(u.field+".Password", src)
		}
	}
	token, src, err := secretFrom(
		source{name: a.as("auth"), set: a.given("auth"), value: f.auth},
		file("auth_file", f.authFile),
		env(EnvAuth))
	add(err)
	if token != "" {
		o.Token = token
		took("Token", src)
	}
	return errs
}

// loadKeyPair loads a certificate and its key, blaming the flag whose file
// is at fault.
func loadKeyPair(certFlag, certPath, keyFlag, keyPath string) (tls.Certificate, error) {
	certPEM, err := readFile(certFlag, certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile(keyFlag, keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := checkCertificates(certPEM); err != nil {
		return tls.Certificate{}, &FieldError{Field: certFlag, Value: certPath, Err: err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificates parsed: what is wrong is the key, or that it
		// does not match. crypto/tls's errors name no content.
		return tls.Certificate{}, fieldErr(keyFlag, keyPath, "key for %s %q: %w", certFlag, certPath, err)
	}
	return cert, nil
}

// loadPool loads the CA certificates of a PEM file.
func loadPool(flag, path string) (*x509.CertPool, error) {
	b, err := readFile(flag, path)
	if err != nil {
		return nil, err
	}
	if err := checkCertificates(b); err != nil {
		return nil, &FieldError{Field: flag, Value: path, Err: err}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return pool, nil
}

// checkCertificates checks that b is PEM holding at least one certificate,
// all of which parse. Its errors hold no content of b.
func checkCertificates(b []byte) error {
	n := 0
	for len(b) > 0 {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}
