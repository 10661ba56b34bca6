package testenv

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// child is a service process started by this package.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before exited is closed
}

// startChild starts cmd so that it dies with the test binary: on Linux, with
// a parent-death signal (sig). That signal fires when the OS thread that
// forked the child exits, not only the process, so the fork happens on a
// goroutine locked to its thread that lives until the child has exited.
func startChild(cmd *exec.Cmd, sig syscall.Signal) (*child, error) {
	setDeathSignal(cmd, sig)
	c := &child{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// running reports whether the process has not exited yet.
func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends sig, waits up to grace for the process to exit, then kills it.
func (c *child) stop(sig os.Signal, grace time.Duration) {
	if !c.running() {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
		return
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
}
