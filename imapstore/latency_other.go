//go:build !linux

package imapstore

import (
	"net"
	"time"
)

// kernelRTT reports no round-trip time off Linux: the timed connect
// stands for it.
func kernelRTT(net.Conn) (time.Duration, bool) { return 0, false }
