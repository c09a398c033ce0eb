package jetstream

// validName reports whether name can name a stream: non-empty, printable,
// without '.', '*', '>', path separators or whitespace (nats-server's
// isValidAssetName).
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch c {
		case '.', '*', '>', '/', '\\', ' ', '\t', '\r', '\n', 0:
			return false
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
