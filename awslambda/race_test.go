//go:build race

package awslambda_test

// raceEnabled: the tests run with -race, so the binaries they build do too
// (sharing the compiled packages, and catching races in the processes).
const raceEnabled = true
