package discovery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bounds of File.Watch's polling interval.
const (
	// DefaultWatchInterval is used when Watch is given an interval <= 0.
	DefaultWatchInterval = time.Second
	// MinWatchInterval is the shortest interval Watch polls at; shorter
	// ones are raised to it.
	MinWatchInterval = 10 * time.Millisecond
)

// racyWindow is how recent a file's modification time may be for File to
// distrust it: within it, the file may change again without its mtime and
// size changing (coarse timestamps), so it is read again, as git does with
// "racily clean" entries.
const racyWindow = 2 * time.Second

// File is a Provider that reads seeds from a text file, one route URL per
// line, e.g.
//
//	# the orders mesh
//	nats://10.0.0.5:4248
//	nats://10.0.0.6:4248   # node b
//
//	nats-route://ruser:secret@10.0.0.7:4248
//
// Blank lines are ignored, and so is everything from a "#" that starts a
// line or follows a blank (URLs have no blanks). Each URL is checked with
// ParseSeed; a bad line makes the whole file an error that names the path
// and the line number. Duplicates are dropped; the order is the file's.
// An empty file (or one of comments only) means "no seeds known right now":
// an empty list and a nil error. A missing file is an error that matches
// fs.ErrNotExist as well as ErrDiscovery.
//
// The file is re-read when it changes: Discover reads it again when its
// modification time or size changed since the last read (or the last read
// was so soon after a change that a further change could have kept both),
// and returns the list it read last time otherwise. Watch reports changes
// as they happen. Replacing the file (write a temporary file, then rename
// it over Path) is the way to change it without a reader seeing half of it.
//
// Use a *File (&File{Path: p}); it must not be copied after first use. Its
// methods are safe for concurrent use.
type File struct {
	// Path is the file's name.
	Path string

	mu    sync.Mutex
	cache fileState
}

// fileState is what one read of the file found.
type fileState struct {
	valid   bool      // a read happened
	modTime time.Time // stat at the time of the read
	size    int64
	readAt  time.Time
	sum     [sha256.Size]byte // of the content
	urls    []*url.URL        // parsed content, nil if err
	err     error             // read or parse error
}

// Discover returns the seeds in the file; see File.
func (f *File) Discover(ctx context.Context) ([]*url.URL, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: seed file %q: %w", ErrDiscovery, f.Path, err)
	}
	st := f.refresh()
	if st.err != nil {
		return nil, st.err
	}
	return clone(st.urls), nil
}

// refresh reads the file if it may have changed since the last read, and
// returns the current state.
func (f *File) refresh() fileState {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, statErr := os.Stat(f.Path)
	c := &f.cache
	if statErr == nil && c.valid && c.err == nil &&
		info.ModTime().Equal(c.modTime) && info.Size() == c.size &&
		c.readAt.Sub(c.modTime) > racyWindow {
		return *c
	}
	if statErr != nil {
		*c = fileState{valid: true, readAt: time.Now(), err: fmt.Errorf("%w: seed file: %w", ErrDiscovery, statErr)}
		return *c
	}
	if !info.Mode().IsRegular() {
		*c = fileState{valid: true, readAt: time.Now(), err: fmt.Errorf("%w: seed file %q is not a regular file (%s)", ErrDiscovery, f.Path, info.Mode().Type())}
		return *c
	}
	readAt := time.Now()
	data, err := os.ReadFile(f.Path)
	if err != nil {
		*c = fileState{valid: true, readAt: readAt, err: fmt.Errorf("%w: seed file: %w", ErrDiscovery, err)}
		return *c
	}
	sum := sha256.Sum256(data)
	next := fileState{valid: true, modTime: info.ModTime(), size: info.Size(), readAt: readAt, sum: sum}
	if c.valid && c.err == nil && c.sum == sum {
		next.urls = c.urls // same content: no need to parse it again
	} else {
		next.urls, next.err = parseSeedFile(f.Path, data)
	}
	*c = next
	return *c
}

// parseSeedFile reads the seeds of a seed file's content.
func parseSeedFile(path string, data []byte) ([]*url.URL, error) {
	var urls []*url.URL
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // a byte-order mark
		}
		if i := commentStart(line); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if fields := strings.Fields(line); len(fields) > 1 {
			return nil, fmt.Errorf("%w: seed file %q line %d: %d words (%s), want one URL per line",
				ErrDiscovery, path, n, len(fields), Redact(fields[0])+" "+Redact(fields[1])+"...")
		}
		u, err := parseSeedURL(line)
		if err != nil {
			return nil, fmt.Errorf("%w: seed file %q line %d: %w", ErrDiscovery, path, n, err)
		}
		urls = append(urls, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: seed file %q: %w", ErrDiscovery, path, err)
	}
	return dedup(urls), nil
}

// commentStart returns the index of the "#" that starts a comment in line,
// or -1: one at the start of the line, or after a space or tab.
func commentStart(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}

// FileUpdate is what File.Watch sends: the seeds the file now holds, or
// why it could not be read.
type FileUpdate struct {
	// URLs are the seeds in the file, as Discover returns them; nil when
	// Err is set. An empty list means the file holds no seeds.
	URLs []*url.URL
	// Err is the error Discover would return (a missing file, a bad
	// line), or nil.
	Err error
}

// Watch polls the file every interval and sends an update on the returned
// channel first with the file's current seeds (or error), then each time
// they change: when the list of seeds differs from the one last sent, or an
// error appears, changes or goes away. Edits that keep the same seeds
// (comments, blank lines, a touch) send nothing.
//
// Each poll compares the file's modification time and size with the last
// read and reads it again when they differ (or when they are too recent to
// be trusted); content with the same hash is not parsed again. A change is
// noticed within one interval. An interval <= 0 means DefaultWatchInterval;
// one shorter than MinWatchInterval is raised to it.
//
// A receiver that falls behind misses nothing but intermediate states: an
// update not yet received is replaced by a newer one. When ctx ends, the
// polling goroutine stops and the channel is closed, so
//
//	for up := range f.Watch(ctx, time.Second) { ... }
//
// ends then. Discover may be called while a Watch runs; they share the
// cache.
func (f *File) Watch(ctx context.Context, interval time.Duration) <-chan FileUpdate {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	interval = max(interval, MinWatchInterval)
	out := make(chan FileUpdate)
	go func() {
		defer close(out)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		var (
			last    FileUpdate
			sent    bool // last has been queued once
			pending *FileUpdate
		)
		poll := func() {
			if ctx.Err() != nil {
				return
			}
			st := f.refresh()
			up := FileUpdate{URLs: clone(st.urls), Err: st.err}
			if sent && sameUpdate(last, up) {
				return
			}
			last, sent = FileUpdate{URLs: clone(up.URLs), Err: up.Err}, true
			pending = &up
		}
		poll()
		for {
			var send chan<- FileUpdate
			var next FileUpdate
			if pending != nil {
				send, next = out, *pending
			}
			select {
			case <-ctx.Done():
				return
			case send <- next:
				pending = nil
			case <-ticker.C:
				poll()
			}
		}
	}()
	return out
}

// sameUpdate reports whether two updates say the same thing.
func sameUpdate(a, b FileUpdate) bool {
	if (a.Err == nil) != (b.Err == nil) {
		return false
	}
	if a.Err != nil {
		return a.Err.Error() == b.Err.Error()
	}
	return slices.EqualFunc(a.URLs, b.URLs, func(x, y *url.URL) bool { return x.String() == y.String() })
}

// String describes the provider, e.g. `file("/etc/natsmesh/seeds")`.
func (f *File) String() string { return fmt.Sprintf("file(%q)", f.Path) }
