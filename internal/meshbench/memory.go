package meshbench

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// Memory is what an idle node costs, averaged over the nodes of a cluster.
type Memory struct {
	Nodes int
	// HeapBytes is the growth of the live heap (runtime.MemStats.HeapAlloc
	// after a full GC) per node.
	HeapBytes float64
	// RSSBytes is the growth of the process's resident set per node, after
	// debug.FreeOSMemory on both sides; 0 where it cannot be read (it is
	// read from /proc/self/statm). Coarser than HeapBytes: it includes
	// goroutine stacks and the runtime's own overhead.
	RSSBytes float64
	// Goroutines is the growth of runtime.NumGoroutine per node.
	Goroutines float64
}

// IdleMemory forms an n-node cluster of the given kind with no clients,
// lets it idle for settle, and returns what it added to the process per
// node, measured against the moment just before it was formed (once what
// ran before has wound down: the number of goroutines has held still for
// 50 ms, waiting at most 2 s). It closes the cluster before returning.
func IdleMemory(kind Kind, n int, settle time.Duration) (Memory, error) {
	quiesce(50*time.Millisecond, 2*time.Second)
	before := sample()
	c, err := Start(kind, n)
	if err != nil {
		return Memory{}, err
	}
	time.Sleep(settle)
	after := sample()
	c.Close()
	per := func(a, b float64) float64 { return (a - b) / float64(n) }
	return Memory{
		Nodes:      n,
		HeapBytes:  per(after.heap, before.heap),
		RSSBytes:   per(after.rss, before.rss),
		Goroutines: per(after.goroutines, before.goroutines),
	}, nil
}

// quiesce waits until runtime.NumGoroutine has not changed for still, or
// until limit has passed: goroutines of clusters and clients closed just
// before may still be exiting, and the memory they free would otherwise be
// subtracted from the next measurement.
func quiesce(still, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, since := runtime.NumGoroutine(), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < still {
		time.Sleep(5 * time.Millisecond)
		if g := runtime.NumGoroutine(); g != last {
			last, since = g, time.Now()
		}
	}
}

type memSample struct{ heap, rss, goroutines float64 }

// sample collects garbage, returns freed memory to the OS and reads the
// live heap, the resident set and the number of goroutines.
func sample() memSample {
	runtime.GC()
	debug.FreeOSMemory() // another full GC, then scavenge
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{
		heap:       float64(ms.HeapAlloc),
		rss:        float64(rss()),
		goroutines: float64(runtime.NumGoroutine()),
	}
}

// rss returns the resident set size of this process in bytes, or 0 if it
// cannot be read.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
