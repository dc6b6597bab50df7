package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestHooksExample runs the example and checks that every kind of event
// it sets out to show was printed.
func TestHooksExample(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	err = run()
	w.Close()
	os.Stdout = orig
	text := <-out
	if err != nil {
		t.Fatalf("hooks: %v\n%s", err, text)
	}
	for _, want := range []string{
		"peer    + b", "peer    + c", `client  + `, `"publisher"`,
		"traffic of a", "peer b", "clients",
		`AUTH    refused user "mallory"`, "attempted to connect to route port",
		"peer    - c  (left)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
