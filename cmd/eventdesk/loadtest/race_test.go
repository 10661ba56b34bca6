//go:build race

package loadtest

// raceEnabled builds the binary under test with the race detector too.
const raceEnabled = true
