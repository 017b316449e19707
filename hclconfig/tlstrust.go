package hclconfig

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
)

// maxCAFileSize bounds what tls_ca_file reads: a system bundle of every
// public root is about 200 KiB.
const maxCAFileSize = 4 << 20

// tlsTrust decodes tls_ca_file and tls_server_name into acc. Both only
// make sense over TLS: with plain, set when tls = "none", each is an
// error and the CA file is not read.
func (d *decoder) tlsTrust(at hcl.Attributes, acc *Account, dir string, plain bool) {
	noTLS := func(a *hcl.Attribute) {
		d.errorf(a.Range, a.Name+` without TLS`,
			`%s is about the server's TLS certificate, but account %q uses tls = "none": nothing is encrypted or verified. Use tls = "implicit" or "starttls", or remove %s.`, a.Name, acc.Name, a.Name)
	}

	if a := at["tls_ca_file"]; a != nil {
		p, o := d.str(a, false)
		switch {
		case o != good:
		case plain:
			noTLS(a)
		case p == "":
			d.errorf(a.Expr.Range(), "Invalid tls_ca_file", "tls_ca_file of account %q must not be empty; leave it out to trust the system's certificate authorities.", acc.Name)
		default:
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			p = filepath.Clean(p)
			certs, err := readCAs(p)
			if err != nil {
				d.errorf(a.Expr.Range(), "Invalid tls_ca_file", "tls_ca_file of account %q: %v. It must name a PEM file of the certificates to trust (-----BEGIN CERTIFICATE-----), relative to the configuration file's directory.", acc.Name, err)
				break
			}
			acc.TLSCAFile, acc.TLSCAs = p, certs
		}
	}

	if a := at["tls_server_name"]; a != nil {
		name, o := d.str(a, false)
		switch {
		case o != good:
		case plain:
			noTLS(a)
		case name == "":
			d.errorf(a.Expr.Range(), "Invalid tls_server_name", "tls_server_name of account %q must not be empty; leave it out to check the certificate against host.", acc.Name)
		default:
			if msg := checkHost(name); msg != "" {
				d.errorf(a.Expr.Range(), "Invalid tls_server_name", "tls_server_name is the name on the server's certificate: a DNS name or an IP address, without a scheme or a port; got %q.", name)
				break
			}
			acc.TLSServerName = name
		}
	}
}

// readCAs reads the certificates of the PEM file p. Every CERTIFICATE
// block must parse and there must be at least one; other blocks (a
// bundle's comments are outside blocks) are ignored. Its errors name p.
func readCAs(p string) ([]*x509.Certificate, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", p, pathless(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", p, pathless(err))
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCAFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", p, pathless(err))
	}
	if len(b) > maxCAFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxCAFileSize)
	}
	var certs []*x509.Certificate
	other := ""
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			if other == "" {
				other = blk.Type
			}
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d of %s is not a valid certificate: %v", n, p, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		if other != "" {
			return nil, fmt.Errorf("%s holds no certificate, only %s", p, other)
		}
		return nil, errors.New(p + " holds no PEM certificate")
	}
	return certs, nil
}
