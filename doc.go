// Package eventdesk is the domain of the eventdesk helpdesk: tickets, the
// commands that change them, the events that record those changes, the pure
// Decide and Evolve functions between them, the error vocabulary, and the
// ports (event store, read models) that adapters implement.
//
// The package performs no I/O: it imports no database driver, no net/http,
// no os and no log, and it never reads the clock or generates random IDs.
// Time and identifiers are passed in by the caller so that every rule here is
// deterministic and testable with plain table tests.
package eventdesk
