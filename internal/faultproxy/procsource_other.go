//go:build !linux

package faultproxy

import "net"

// PIDSource names no source outside Linux (it reads /proc): every
// connection is anonymous, so a cut stops only the links to the node.
func PIDSource(pids func() map[int]string) func(net.Addr) string {
	return func(net.Addr) string { return "" }
}
