package options_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/options"
)

func TestFromArgsJetStream(t *testing.T) {
	tests := []struct {
		args string
		want options.Options
	}{
		{"-js", options.Options{JetStream: true}},
		{"--jetstream -sd /var/lib/js", options.Options{JetStream: true, StoreDir: "/var/lib/js"}},
		{"-js --store_dir=data -p 4222", options.Options{JetStream: true, StoreDir: "data", Port: 4222}},
		{"-sd /tmp/x", options.Options{StoreDir: "/tmp/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := options.FromArgs(strings.Fields(tt.args))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNormalizeJetStream(t *testing.T) {
	n, err := options.Options{JetStream: true, StoreDir: "data"}.Normalize()
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(n.StoreDir), "StoreDir made absolute: %q", n.StoreDir)

	_, err = options.Options{RemoveLostAfter: -time.Second}.Normalize()
	require.ErrorIs(t, err, options.ErrInvalid)
	require.ErrorContains(t, err, "RemoveLostAfter=-1s")
}
