package objstore

import (
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestFitMetadata: keys and values count together against the store's
// limit, up to it inclusive (Swift's check_metadata and S3's 2 KB).
func TestFitMetadata(t *testing.T) {
	m := map[string]string{"a": strings.Repeat("v", 255), "b": strings.Repeat("w", 255)} // 512 bytes
	if err := FitMetadata("object metadata", m, 512); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if err := FitMetadata("object metadata", m, 511); contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("over the limit: %v, want unsupported", err)
	}
}
