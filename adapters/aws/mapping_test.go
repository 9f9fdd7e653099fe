package aws

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
)

// TestReadmeMapping keeps README.md's table equal to the table the code
// runs on.
func TestReadmeMapping(t *testing.T) {
	adaptertest.CheckReadme(t, "README.md", MappingMarkdown())
}
