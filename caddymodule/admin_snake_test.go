package caddymodule

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestSnakeKey(t *testing.T) {
	for in, want := range map[string]string{
		"ID": "id", "Cores": "cores", "CloudServiceURI": "cloud_service_uri", "ObjectURI": "object_uri",
		"EncryptionSupport": "encryption_support", "DSaaS": "dsaas", "IaaS": "iaas", "PaaS": "paas", "SaaS": "saas",
		"NetworkInterface": "network_interface", "IP": "ip", "MAC": "mac", "SeqNumber": "seq_number",
		"provider_id": "provider_id", "seqnumber": "seqnumber", "Mimetype": "mimetype", "ComputeSupport": "compute_support",
	} {
		if got := snakeKey(in); got != want {
			t.Errorf("snakeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSnakeKeysKeepsOrderAndValues: keys are rewritten at every depth,
// in their order; values (strings that look like keys included) are
// kept, and so are the keys of "placeable", which are service models.
func TestSnakeKeysKeepsOrderAndValues(t *testing.T) {
	in := `{"provider_id":"p","Service":{"ID":"vm","Kind":"IaaS","Tags":["A","B"],"N":1.5e3,"Nil":null,"OK":true,"Empty":{},"List":[]},"Placeable":{"IaaS":2},"x":[{"CloudServiceURI":"<u>"}]}`
	out, err := snakeKeys([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "provider_id": "p",
  "service": {
    "id": "vm",
    "kind": "IaaS",
    "tags": [
      "A",
      "B"
    ],
    "n": 1.5e3,
    "nil": null,
    "ok": true,
    "empty": {},
    "list": []
  },
  "placeable": {
    "IaaS": 2
  },
  "x": [
    {
      "cloud_service_uri": "\u003cu\u003e"
    }
  ]
}
`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

// TestSnakeKeysKeepsDataKeyedMaps: the keys of a job's labels, of its
// cost's earlier amounts (by provider id) and of its resource's native
// references are data, not field names: the admin answer shows them as
// stored ("cloud-a", not "cloud_a"), while the field names around them
// are still rewritten.
func TestSnakeKeysKeepsDataKeyedMaps(t *testing.T) {
	in := `{"ID":"j1","Labels":{"Team-Name":"blue"},"Cost":{"Earlier":{"cloud-a":0.5}},"Resource":{"Native":{"machineVolume":"/mv/1"}}}`
	out, err := snakeKeys([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id":       "j1",
		"labels":   map[string]any{"Team-Name": "blue"},
		"cost":     map[string]any{"earlier": map[string]any{"cloud-a": 0.5}},
		"resource": map[string]any{"native": map[string]any{"machineVolume": "/mv/1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("snakeKeys(%s) =\n%s\nwant %v", in, out, want)
	}
}
