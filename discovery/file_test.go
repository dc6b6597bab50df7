package discovery_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/discovery"
)

func TestFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{name: "one URL", content: "nats://10.0.0.5:4248\n", want: []string{"nats://10.0.0.5:4248"}},
		{name: "no final newline", content: "nats://a:1\nnats://b:2", want: []string{"nats://a:1", "nats://b:2"}},
		{name: "empty", content: "", want: []string{}},
		{name: "comments and blank lines only", content: "# none yet\n\n   \n\t# still none\n", want: []string{}},
		{
			name: "comments, blanks, spaces, CRLF",
			content: "# the orders mesh\r\n" +
				"  nats://10.0.0.5:4248  \r\n" +
				"\r\n" +
				"nats://10.0.0.6:4248 # node b\r\n" +
				"nats-route://ruser:secret@10.0.0.7:4248\t# with credentials\r\n",
			want: []string{"nats://10.0.0.5:4248", "nats://10.0.0.6:4248", "nats-route://ruser:secret@10.0.0.7:4248"},
		},
		{name: "IPv6", content: "nats://[fd00::5]:4248\n", want: []string{"nats://[fd00::5]:4248"}},
		{
			name:    "duplicates dropped, order kept",
			content: "nats://b:2\nnats://a:1\nnats://b:2/\nNATS://B:2\nnats://a:1\n",
			want:    []string{"nats://b:2", "nats://a:1"},
		},
		{name: "byte-order mark", content: "\uFEFFnats://a:1\n", want: []string{"nats://a:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeSeeds(t, filepath.Join(t.TempDir(), "seeds"), tt.content)
			f := &discovery.File{Path: path}
			got, err := f.Discover(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.want, strs(got))
		})
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantMsg []string
	}{
		{name: "no scheme", content: "nats://a:1\n\n10.0.0.5:4248\n",
			wantMsg: []string{"line 3", `"10.0.0.5:4248"`, "no scheme"}},
		{name: "bad scheme", content: "# seeds\nhttp://a:1\n",
			wantMsg: []string{"line 2", `scheme "http"`}},
		{name: "no port", content: "nats://a\n", wantMsg: []string{"line 1", "missing port"}},
		{name: "two URLs on a line", content: "nats://a:1 nats://b:2\n",
			wantMsg: []string{"line 1", "2 words", "want one URL per line"}},
		{name: "comma-separated", content: "nats://a:1,nats://b:2\n", wantMsg: []string{"line 1"}},
		{name: "comment without a blank before it", content: "nats://a:1#b\n",
			wantMsg: []string{"line 1", "fragment"}},
		{name: "password masked", content: "\nnats://u:T0pS3cr3t@a\n",
			wantMsg: []string{"line 2", "u:xxxxx@a"}},
		{name: "password with a blank", content: "nats://u:T0pS3cr3t x@a:1\n",
			wantMsg: []string{"line 1", "2 words", "%20"}},
		{name: "token with a blank", content: "nats://T0pS3cr3t @a:1\n",
			wantMsg: []string{"line 1", "2 words"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeSeeds(t, filepath.Join(t.TempDir(), "seeds"), tt.content)
			got, err := (&discovery.File{Path: path}).Discover(context.Background())
			require.Error(t, err)
			assert.Nil(t, got)
			assert.ErrorIs(t, err, discovery.ErrDiscovery)
			assert.NotContains(t, err.Error(), "T0pS3cr3t")
			assert.Contains(t, err.Error(), `"`+path+`"`)
			for _, m := range tt.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope")
		_, err := (&discovery.File{Path: path}).Discover(context.Background())
		require.Error(t, err)
		assert.ErrorIs(t, err, discovery.ErrDiscovery)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), path)
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		_, err := (&discovery.File{Path: dir}).Discover(context.Background())
		require.Error(t, err)
		assert.ErrorIs(t, err, discovery.ErrDiscovery)
		assert.Contains(t, err.Error(), "not a regular file")
	})
	t.Run("cancelled", func(t *testing.T) {
		path := writeSeeds(t, filepath.Join(t.TempDir(), "seeds"), "nats://a:1\n")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := (&discovery.File{Path: path}).Discover(ctx)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, discovery.ErrDiscovery)
	})
}

// TestFileChanges checks that Discover sees every change: a new content,
// a file that goes away and comes back, a bad line that is fixed.
func TestFileChanges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "seeds")
	f := &discovery.File{Path: path}

	_, err := f.Discover(ctx)
	require.ErrorIs(t, err, fs.ErrNotExist)

	writeSeeds(t, path, "nats://a:1\n")
	requireSeeds(t, f, "nats://a:1")

	writeSeeds(t, path, "nats://a:1\nnats://b:2\n")
	requireSeeds(t, f, "nats://a:1", "nats://b:2")

	writeSeeds(t, path, "nats://a:1\nbad\n")
	_, err = f.Discover(ctx)
	require.ErrorContains(t, err, "line 2")

	writeSeeds(t, path, "nats://c:3\n")
	requireSeeds(t, f, "nats://c:3")

	require.NoError(t, os.Remove(path))
	_, err = f.Discover(ctx)
	require.ErrorIs(t, err, fs.ErrNotExist)

	writeSeeds(t, path, "")
	requireSeeds(t, f)
}

// TestFileCache shows when Discover answers from its cache: when the
// file's modification time and size are those of the last read, and that
// time is old enough to be trusted.
func TestFileCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seeds")
	f := &discovery.File{Path: path}

	t.Run("unchanged mtime and size: cached", func(t *testing.T) {
		old := time.Now().Add(-time.Hour)
		writeSeeds(t, path, "nats://a:1\n")
		require.NoError(t, os.Chtimes(path, old, old))
		requireSeeds(t, f, "nats://a:1")

		// Same size, same mtime: indistinguishable from no change.
		writeSeeds(t, path, "nats://b:1\n")
		require.NoError(t, os.Chtimes(path, old, old))
		requireSeeds(t, f, "nats://a:1")

		// A new mtime is a change.
		require.NoError(t, os.Chtimes(path, old, old.Add(time.Second)))
		requireSeeds(t, f, "nats://b:1")
	})

	t.Run("recent mtime: read again", func(t *testing.T) {
		// A file changed moments ago may change again within the same
		// timestamp tick, so its mtime does not vouch for its content.
		recent := time.Now().Add(-100 * time.Millisecond)
		writeSeeds(t, path, "nats://c:1\n")
		require.NoError(t, os.Chtimes(path, recent, recent))
		requireSeeds(t, f, "nats://c:1")

		writeSeeds(t, path, "nats://d:1\n")
		require.NoError(t, os.Chtimes(path, recent, recent))
		requireSeeds(t, f, "nats://d:1")
	})

	t.Run("results are copies", func(t *testing.T) {
		got, err := f.Discover(context.Background())
		require.NoError(t, err)
		require.Len(t, got, 1)
		got[0].Host = "changed:9"
		requireSeeds(t, f, "nats://d:1")
	})
}

// writeSeeds replaces the file at path with content the way a careful
// writer does (a temporary file renamed over it), so that a reader never
// sees half of it; it returns path.
func writeSeeds(t *testing.T, path, content string) string {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
	return path
}

func requireSeeds(t *testing.T, f *discovery.File, want ...string) {
	t.Helper()
	got, err := f.Discover(context.Background())
	require.NoError(t, err)
	if want == nil {
		want = []string{}
	}
	require.Equal(t, want, strs(got))
}
