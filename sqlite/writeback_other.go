//go:build !(linux && (amd64 || arm64))

package sqlite

// Elsewhere there is no portable way to start writeback without waiting
// for it; the checkpoint's sync writes the WAL as before.
const writebackSupported = false

func startWriteback(uintptr) error { return nil }
