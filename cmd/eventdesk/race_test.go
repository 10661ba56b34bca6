//go:build race

package main_test

// raceEnabled builds the binary under test with the race detector when the
// tests run with -race, so that the end-to-end tests also hunt data races
// in the server.
const raceEnabled = true
