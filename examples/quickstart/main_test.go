package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestQuickstart runs the README's main command in process and checks the
// story it tells.
func TestQuickstart(t *testing.T) {
	out := captureStdout(t, func() {
		if err := run(); err != nil {
			t.Fatalf("quickstart: %v", err)
		}
	})
	for _, want := range []string{
		"full mesh: b and c found each other through a",
		`subscriber on c receives "hello from a"`,
		"[a] sees c leave (left)",
		"subscriber carried on: reconnected to",
		`receives "still there?"`,
		"done: a and b see 1 peer each",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	defer func() {
		os.Stdout = orig
	}()
	f()
	w.Close()
	os.Stdout = orig
	return string(bytes.TrimSpace(<-done))
}
