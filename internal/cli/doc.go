// Package cli holds tagpin's cobra commands, one file per verb. Commands
// parse flags and arguments, hand the work to a package, and print. Main is
// the one place where errors become messages and exit codes.
package cli
