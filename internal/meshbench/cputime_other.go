//go:build !unix

package meshbench

import (
	"errors"
	"time"
)

// cpuTime is not implemented here: IdleCPU needs getrusage.
func cpuTime() (time.Duration, error) {
	return 0, errors.New("meshbench: process CPU time is not read on this system")
}
