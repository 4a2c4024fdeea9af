//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package main

// lockData is a no-op where flock does not exist: there `mih restore` cannot tell whether a hub
// runs on the folder, and the operator must stop it first (docs/operations.md says so).
func lockData(dir string, exclusive bool) (unlock func(), err error) {
	return func() {}, nil
}
