package occitest

import (
	"embed"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed testdata/*.yml
var cassettes embed.FS

// Interaction is one recorded HTTP exchange of a VCR cassette.
type Interaction struct {
	Request struct {
		Method  string              `yaml:"method"`
		URI     string              `yaml:"uri"`
		Headers map[string][]string `yaml:"headers"`
		Body    struct {
			String string `yaml:"string"`
		} `yaml:"body"`
	} `yaml:"request"`
	Response struct {
		Status struct {
			Code    int    `yaml:"code"`
			Message string `yaml:"message"`
		} `yaml:"status"`
		Headers map[string][]string `yaml:"headers"`
		Body    struct {
			String string `yaml:"string"`
		} `yaml:"body"`
	} `yaml:"response"`
}

// Cassette files, by what they recorded.
const (
	// CassetteDiscoveryText: rOCCI-server at 141.5.99.69 (January 2013),
	// HEAD / and GET /-/ in text/plain.
	CassetteDiscoveryText = "rocci-discovery-text-plain.yml"
	// CassetteDiscoveryJSON: the same server's GET /-/ in application/json.
	CassetteDiscoveryJSON = "rocci-discovery-json.yml"
	// CassetteOpenNebula: rOCCI-server on OpenNebula (November 2012):
	// discovery, collections and compute, network and storage instances
	// in text/plain.
	CassetteOpenNebula = "rocci-opennebula-client-text-plain.yml"
)

// Load returns the interactions of an embedded cassette.
func Load(name string) ([]Interaction, error) {
	data, err := cassettes.ReadFile("testdata/" + name)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Interactions []Interaction `yaml:"http_interactions"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cassette %s: %w", name, err)
	}
	return doc.Interactions, nil
}

// Find returns the first recorded interaction with the method, whose URI
// path is path and whose request Accept header contains accept.
func Find(ins []Interaction, method, path, accept string) (Interaction, bool) {
	for _, in := range ins {
		if !strings.EqualFold(in.Request.Method, method) {
			continue
		}
		if uriPath(in.Request.URI) != path {
			continue
		}
		if accept != "" && !strings.Contains(strings.Join(in.Request.Headers["Accept"], ","), accept) {
			continue
		}
		return in, true
	}
	return Interaction{}, false
}

func uriPath(uri string) string {
	if i := strings.Index(uri, "://"); i >= 0 {
		uri = uri[i+3:]
		if j := strings.IndexByte(uri, '/'); j >= 0 {
			return uri[j:]
		}
		return "/"
	}
	return uri
}

// MustBody returns the recorded response body of the first interaction
// matching (see Find), or panics: the cassettes are embedded, so a miss is
// a programming error.
func MustBody(cassette, method, path, accept string) string {
	ins, err := Load(cassette)
	if err != nil {
		panic(err)
	}
	in, ok := Find(ins, method, path, accept)
	if !ok {
		panic(fmt.Sprintf("cassette %s has no %s %s (%s)", cassette, method, path, accept))
	}
	return in.Response.Body.String
}
