package discovery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/natsmesh/natsmesh/internal/errprefix"
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
// line or follows a blank (URLs have no blanks). Each URL is checked as
// Options.Seed is (a bad one matches ErrSeed); a bad line makes the whole
// file an error that names the path and the line number. Duplicates are dropped; the order is the file's.
// An empty file (or one of comments only) means "no seeds known right now":
// an empty list and a nil error. A missing file is an error that matches
// fs.ErrNotExist as well as ErrDiscovery.
//
// The file is re-read when it changes: Discover reads it again when its
// modification time or size changed since the last read (or the last read
// was so soon after a change that a further change could have kept both),
// and returns the list it read last time otherwise. Replacing the file (write a temporary file, then rename
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
			// None of the words is quoted: a blank may as well sit inside
			// a URL's password, which a word alone would then show.
			return nil, fmt.Errorf("%w: seed file %q line %d: %d words, want one URL per line (a blank in a URL is written %%20)",
				ErrDiscovery, path, n, len(fields))
		}
		u, err := parseSeedURL(line)
		if err != nil {
			return nil, fmt.Errorf("%w: seed file %q line %d: %w", ErrDiscovery, path, n, errprefix.Inner(err))
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

// String describes the provider, e.g. `file("/etc/natsmesh/seeds")`.
func (f *File) String() string { return fmt.Sprintf("file(%q)", f.Path) }
