package imapstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestCertificateError: a certificate that does not verify fails Dial
// with a *CertificateError that says what is wrong (untrusted, or for
// other names, which it lists) and wraps crypto/x509's error; a
// ServerName in Options.TLSConfig is what the certificate is checked
// against, and a matching one connects. For both TLS modes.
func TestCertificateError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		srv  imaptest.TLSMode
		mode imapstore.Mode
	}{
		{imaptest.TLSImplicit, imapstore.Implicit},
		{imaptest.TLSStartTLS, imapstore.StartTLS},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			// The certificate is self-signed for 127.0.0.1 and localhost.
			srv := imaptest.StartMemWith(t, imaptest.MemOptions{TLS: tc.srv}, "alice")
			roots := srv.TLSConfig.RootCAs
			dial := func(cfg *tls.Config) (*imapstore.Store, error) {
				return imapstore.Dial(context.Background(), imapstore.Options{
					Name: "acct", Addr: srv.Addr, TLS: tc.mode, TLSConfig: cfg,
					Username: "alice", Password: imaptest.Password, Timeout: 10 * time.Second,
				})
			}

			_, err := dial(nil)
			var ce *imapstore.CertificateError
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &ce) || ce.Problem != imapstore.CertUntrusted || !errors.As(err, &unknown) ||
				!strings.Contains(err.Error(), `account "acct"`) || !strings.Contains(err.Error(), "the server's certificate is not trusted") {
				t.Errorf("Dial(system roots) = %v, want an untrusted-certificate error naming the account", err)
			}

			_, err = dial(&tls.Config{RootCAs: roots, ServerName: "mail.example.test"})
			var host x509.HostnameError
			if !errors.As(err, &ce) || ce.Problem != imapstore.CertNameMismatch || ce.ServerName != "mail.example.test" || !errors.As(err, &host) {
				t.Fatalf("Dial(ServerName mail.example.test) = %v, want a name mismatch for mail.example.test", err)
			}
			if !slices.Equal(ce.Names, []string{"localhost", "127.0.0.1"}) {
				t.Errorf("CertificateError.Names = %q, want the certificate's localhost and 127.0.0.1", ce.Names)
			}
			if want := "the server's certificate does not match mail.example.test: it is for localhost, 127.0.0.1"; !strings.Contains(err.Error(), want) {
				t.Errorf("Dial(ServerName mail.example.test) = %v, want %q in it", err, want)
			}

			for _, name := range []string{"", "localhost"} {
				st, err := dial(&tls.Config{RootCAs: roots, ServerName: name})
				if err != nil {
					t.Errorf("Dial(ServerName %q) = %v, want a connection", name, err)
					continue
				}
				if err := st.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			}
		})
	}
}

// TestExpiredCertificate: a trusted certificate that has expired is a
// CertInvalid *CertificateError. The server only shakes hands: the
// client gives up before IMAP begins.
func TestExpiredCertificate(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "expired"},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(-24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.(*tls.Conn).Handshake() // fails when the client refuses
			}()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	_, err = imapstore.Dial(context.Background(), imapstore.Options{
		Name: "acct", Addr: ln.Addr().String(), TLS: imapstore.Implicit, TLSConfig: &tls.Config{RootCAs: roots},
		Username: "alice", Password: imaptest.Password, Timeout: 10 * time.Second,
	})
	var ce *imapstore.CertificateError
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &ce) || ce.Problem != imapstore.CertInvalid || !errors.As(err, &invalid) || invalid.Reason != x509.Expired ||
		!strings.Contains(err.Error(), "the server's certificate is not valid") {
		t.Errorf("Dial(expired certificate) = %v, want a CertInvalid certificate error for the expiry", err)
	}
}

func TestCertProblemString(t *testing.T) {
	for p, want := range map[imapstore.CertProblem]string{
		imapstore.CertUntrusted:    "untrusted",
		imapstore.CertNameMismatch: "name mismatch",
		imapstore.CertInvalid:      "invalid",
		imapstore.CertProblem(9):   "CertProblem(9)",
	} {
		if got := p.String(); got != want {
			t.Errorf("CertProblem(%d).String() = %q, want %q", int(p), got, want)
		}
	}
}
