package main

import (
	"strings"
	"testing"
)

// TestKVExample runs the example: the restarted node reads what was
// written while it was down.
func TestKVExample(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("kv: %v\n%s", err, out.String())
	}
	for _, want := range []string{"b: get color=red", "c stopped", "b: put color=green", "c: get color=green", "c: get size=XL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
