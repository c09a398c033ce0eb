//go:build !linux

package app

func rssBytes() int64 { return 0 }
