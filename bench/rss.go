package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// measured is what a child process took.
type measured struct {
	wall, cpu time.Duration
	peakRSS   int64 // bytes
}

// runMeasured runs cmd to its end, and measures its wall time, CPU time
// and peak resident memory. The peak is the child's VmHWM, read from
// /proc while it runs, not getrusage's ru_maxrss: Go starts a child with
// vfork semantics and Linux carries the old address space's high-water
// mark over exec, so a child's ru_maxrss is at least the bench process's
// own peak. (Every RSS the bench printed after its 1M-gallery matching
// read the same 3,138 MiB; the phone run was 1,897 MiB under
// /usr/bin/time.)
func runMeasured(cmd *exec.Cmd) (measured, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{}, err
	}
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var hwm int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, ok := vmHWM(cmd.Process.Pid); ok {
				hwm = max(hwm, v)
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	m := measured{wall: time.Since(start), peakRSS: <-peak}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return m, err
}

// vmHWM is a live process's peak resident memory in bytes.
func vmHWM(pid int) (int64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
