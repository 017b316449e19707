package imapstore

import (
	"net"
	"testing"
	"time"
)

// TestKernelRTT: on Linux the round trip comes from the kernel
// (TCP_INFO), which measures one on 127.0.0.1 in microseconds, however
// busy the machine is for this process.
func TestKernelRTT(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rtt, ok := kernelRTT(c)
	if !ok || rtt <= 0 || rtt >= 5*time.Millisecond {
		t.Errorf("kernelRTT(127.0.0.1) = %v, %v; want a round trip under 5 ms", rtt, ok)
	}
	if _, ok := kernelRTT(nil); ok {
		t.Errorf("kernelRTT(nil) reports a round trip")
	}
}
