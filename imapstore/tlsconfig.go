package imapstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// CertProblem is what is wrong with a server's certificate.
type CertProblem int

const (
	// CertUntrusted: no trusted authority signed it (self-signed, or
	// from a private CA the client was not given).
	CertUntrusted CertProblem = iota
	// CertNameMismatch: it is not for the name it was checked against.
	CertNameMismatch
	// CertInvalid: anything else, such as an expired certificate.
	CertInvalid
)

func (p CertProblem) String() string {
	switch p {
	case CertUntrusted:
		return "untrusted"
	case CertNameMismatch:
		return "name mismatch"
	case CertInvalid:
		return "invalid"
	}
	return fmt.Sprintf("CertProblem(%d)", int(p))
}

// CertificateError is the error of a TLS handshake that failed because
// the server's certificate did not verify (errors.As finds it in what
// Dial returns). Configuration hints belong to the caller, which knows
// how its user sets the trusted roots and the name to check.
type CertificateError struct {
	// Problem is what is wrong.
	Problem CertProblem
	// ServerName is the name the certificate was checked against:
	// Options.TLSConfig.ServerName, or the host of Options.Addr.
	ServerName string
	// Names are the DNS names and IP addresses the certificate is for,
	// as it lists them; set for CertNameMismatch.
	Names []string
	// Err is the verification error, from crypto/x509 or crypto/tls.
	Err error
}

func (e *CertificateError) Error() string {
	switch e.Problem {
	case CertUntrusted:
		return fmt.Sprintf("the server's certificate is not trusted: %v", e.Err)
	case CertNameMismatch:
		names := "no name"
		if len(e.Names) > 0 {
			names = strings.Join(e.Names, ", ")
		}
		return fmt.Sprintf("the server's certificate does not match %s: it is for %s (%v)", e.ServerName, names, e.Err)
	}
	return fmt.Sprintf("the server's certificate is not valid: %v", e.Err)
}

func (e *CertificateError) Unwrap() error { return e.Err }

// certificateError returns a *CertificateError when err is a failed
// verification of the certificate for serverName, and nil otherwise.
func certificateError(err error, serverName string) *CertificateError {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	ce := &CertificateError{ServerName: serverName, Err: err}
	switch {
	case errors.As(err, &unknown):
		ce.Problem, ce.Err = CertUntrusted, unknown
	case errors.As(err, &host):
		ce.Problem, ce.Err = CertNameMismatch, host
		if c := host.Certificate; c != nil {
			ce.Names = append(ce.Names, c.DNSNames...)
			for _, ip := range c.IPAddresses {
				ce.Names = append(ce.Names, ip.String())
			}
		}
	case errors.As(err, &invalid):
		ce.Problem, ce.Err = CertInvalid, invalid
	case errors.As(err, &verify):
		ce.Problem, ce.Err = CertInvalid, verify.Err
	default:
		return nil
	}
	return ce
}
