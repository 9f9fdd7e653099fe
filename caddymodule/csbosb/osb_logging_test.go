package csbosb

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestOSBQuietLogs: brokerapi's error records (refused requests) reach
// the log at info level, and its per-request info records only at debug.
func TestOSBQuietLogs(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(quietHandler{slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})}).With("k", "v")
	l.Error("provision.invalid-plan-id")
	l.Info("lastOperation.starting-check-for-operation")
	out := buf.String()
	if !strings.Contains(out, `"level":"INFO","msg":"provision.invalid-plan-id","k":"v"`) || strings.Contains(out, "lastOperation") {
		t.Errorf("log:\n%s", out)
	}
}
