//go:build !linux

package testenv

import (
	"os/exec"
	"syscall"
)

// setDeathSignal does nothing where there is no parent-death signal: there,
// a killed test binary leaves its services running.
func setDeathSignal(*exec.Cmd, syscall.Signal) {}
