package mesh

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/natsmesh/natsmesh/internal/routetls"
	"github.com/natsmesh/natsmesh/options"
)

// StockRouteFiles are the files WriteStockRouteFiles wrote: what a stock
// nats-server needs to join a mesh sealed by a secret.
type StockRouteFiles struct {
	// CAFile holds the authorities of Secret and AcceptedSecrets (PEM).
	CAFile string
	// CertFile is the stock server's route certificate (PEM).
	CertFile string
	// KeyFile is its private key (PKCS #8 PEM, mode 0600).
	KeyFile string
}

// ClusterTLS returns the tls block for the cluster section of a
// nats-server configuration file, with verify on:
//
//	cluster {
//	  name: natsmesh
//	  listen: 0.0.0.0:4248
//	  routes: [nats://10.0.0.1:4248]
//	  tls { ... }   # this block
//	}
func (f StockRouteFiles) ClusterTLS() string {
	return fmt.Sprintf("tls {\n  cert_file: %s\n  key_file: %s\n  ca_file: %s\n  verify: true\n  timeout: %d\n}\n",
		strconv.Quote(f.CertFile), strconv.Quote(f.KeyFile), strconv.Quote(f.CAFile), routeTLSTimeout)
}

// WriteStockRouteFiles writes into dir (created if missing, mode 0700) the
// files a stock nats-server needs to join a mesh whose nodes use o's
// Secret and AcceptedSecrets (other fields are ignored): the
// authorities' certificates, a route certificate minted now from Secret's
// authority, and its key. natsmesh nodes verify a stock server by the
// authority alone; other stock servers verify it by the address they
// dial, so hosts are the addresses (IPs or DNS names) it is dialled at,
// and the certificate names them. Give the files to the server with
// ClusterTLS. The key is fresh at every call; keep it as you would any
// key. No secret is written.
func WriteStockRouteFiles(dir string, o options.Options, hosts ...string) (StockRouteFiles, error) {
	if o.Secret == "" {
		return StockRouteFiles{}, &options.FieldError{Field: "Secret", Value: "", Err: errors.New("WriteStockRouteFiles needs the mesh's secret")}
	}
	if _, err := (options.Options{Secret: o.Secret, AcceptedSecrets: o.AcceptedSecrets}).Normalize(); err != nil {
		return StockRouteFiles{}, err
	}
	own, err := routetls.Derive(o.Secret)
	if err != nil {
		return StockRouteFiles{}, fmt.Errorf("natsmesh: WriteStockRouteFiles Secret: %w", err)
	}
	var cas bytes.Buffer
	cas.Write(routetls.CertPEM(own.Cert))
	for i, s := range o.AcceptedSecrets {
		a, err := routetls.Derive(s)
		if err != nil {
			return StockRouteFiles{}, fmt.Errorf("natsmesh: WriteStockRouteFiles AcceptedSecrets[%d]: %w", i, err)
		}
		cas.Write(routetls.CertPEM(a.Cert))
	}
	leaf, err := own.Issue("nats-server", "", hosts)
	if err != nil {
		return StockRouteFiles{}, fmt.Errorf("natsmesh: WriteStockRouteFiles hosts=%q: %w", hosts, err)
	}
	key, err := routetls.KeyPEM(leaf.Key)
	if err != nil {
		return StockRouteFiles{}, fmt.Errorf("natsmesh: route key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return StockRouteFiles{}, fmt.Errorf("natsmesh: %w", err)
	}
	f := StockRouteFiles{
		CAFile:   filepath.Join(dir, "route-ca.pem"),
		CertFile: filepath.Join(dir, "route-cert.pem"),
		KeyFile:  filepath.Join(dir, "route-key.pem"),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{f.CAFile, cas.Bytes(), 0o644}, {f.CertFile, routetls.CertPEM(leaf.Cert), 0o644}, {f.KeyFile, key, 0o600}} {
		// Removed first, so that an old file's looser mode does not stay.
		if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return StockRouteFiles{}, fmt.Errorf("natsmesh: %w", err)
		}
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return StockRouteFiles{}, fmt.Errorf("natsmesh: %w", err)
		}
	}
	return f, nil
}
