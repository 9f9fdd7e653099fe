package ovf

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDSP0243Shape(t *testing.T) {
	r, err := Parse(mustRead(t, "appliance.ovf"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "web-appliance" || r.CPUs != 2 || r.CPUHz != 1.8e9 || r.MemoryBytes != 4096*(1<<20) || r.DiskBytes != 16*(1<<30) {
		t.Errorf("requirements = %+v", r)
	}
	if len(r.Networks) != 1 || r.Networks[0] != "VM Network" || len(r.MACs) != 1 || r.MACs[0] != "00:50:56:aa:bb:cc" {
		t.Errorf("networks %v macs %v", r.Networks, r.MACs)
	}
}

func TestParseOVF2Collection(t *testing.T) {
	r, err := Parse(mustRead(t, "collection-ovf2.ovf"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// The default configuration "large" picks the 8 GiB memory item; the
	// disks are a 10240 MiB disk and a 2 GiB file.
	if r.Name != "db" || r.CPUs != 4 || r.MemoryBytes != 8*(1<<30) || r.DiskBytes != 10*(1<<30)+2*(1<<30) || len(r.Networks) != 1 {
		t.Errorf("requirements = %+v", r)
	}
}

func TestUnitMultiplier(t *testing.T) {
	for _, c := range []struct {
		units, base string
		want        float64
		bad         bool
	}{
		{"", "byte", 1, false},
		{"byte", "byte", 1, false},
		{"byte * 2^20", "byte", 1 << 20, false},
		{"byte*2^30", "byte", 1 << 30, false},
		{"byte * 10^3", "byte", 1000, false},
		{"byte * 2^10 * 4", "byte", 4096, false},
		{"MegaBytes", "byte", 1 << 20, false},
		{"GB", "byte", 1 << 30, false},
		{"hertz * 10^6", "hertz", 1e6, false},
		{"MHz", "hertz", 1e6, false},
		{"hertz * 2^20", "byte", 0, true},
		{"byte * 2^x", "byte", 0, true},
		{"furlongs", "byte", 0, true},
	} {
		got, err := unitMultiplier(c.units, c.base)
		if c.bad != (err != nil) || (!c.bad && got != c.want) {
			t.Errorf("unitMultiplier(%q, %q) = %v, %v; want %v (bad %v)", c.units, c.base, got, err, c.want, c.bad)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	good := string(mustRead(t, "appliance.ovf"))
	deep := `<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">` + strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40) + `</Envelope>`
	many := `<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">` + strings.Repeat("<a/>", 50) + `</Envelope>`
	for _, c := range []struct {
		name string
		doc  string
		lim  Limits
		want error
	}{
		{"oversized", good, Limits{MaxBytes: 1024}, ErrTooLarge},
		{"too deep", deep, Limits{}, ErrTooDeep},
		{"too many elements", many, Limits{MaxElements: 20}, ErrTooMany},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">&lol2;</Envelope>`, Limits{}, ErrDoctype},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">&xxe;</Envelope>`, Limits{}, ErrDoctype},
		{"plain doctype", `<!DOCTYPE Envelope><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"/>`, Limits{}, ErrDoctype},
		{"undefined entity", `<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">&nope;</Envelope>`, Limits{}, ErrMalformed},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"/>`, Limits{}, ErrMalformed},
		{"not xml", `{"Envelope": 1}`, Limits{}, ErrMalformed},
		{"empty", ``, Limits{}, ErrMalformed},
		{"wrong root", `<Envelope xmlns="urn:other"/>`, Limits{}, ErrNotOVF},
		{"unqualified root", `<Envelope/>`, Limits{}, ErrNotOVF},
		{"no virtual system", `<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"/>`, Limits{}, ErrUnsupported},
		{"two virtual systems", strings.Replace(good, "</Envelope>", `<VirtualSystemCollection ovf:id="c"><VirtualSystem ovf:id="x"/></VirtualSystemCollection></Envelope>`, 1), Limits{}, ErrUnsupported},
		{"property capacity", strings.Replace(good, `ovf:capacity="16"`, `ovf:capacity="${disk.size}"`, 1), Limits{}, ErrUnsupported},
		{"unknown disk", strings.Replace(good, "<rasd:HostResource>ovf:/disk/vmdisk1", "<rasd:HostResource>ovf:/disk/vmdisk9", 1), Limits{}, ErrMalformed},
		{"undeclared network", strings.Replace(good, "<rasd:Connection>VM Network", "<rasd:Connection>Other", 1), Limits{}, ErrMalformed},
		{"bad memory unit", strings.Replace(good, "byte * 2^20", "hertz * 2^20", 1), Limits{}, ErrMalformed},
	} {
		_, err := Parse([]byte(c.doc), c.lim)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// The refusal messages say what was refused.
func TestRefusalMessages(t *testing.T) {
	_, err := Parse([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`), Limits{})
	if err == nil || !strings.Contains(err.Error(), "DOCTYPE and entity declarations are refused") {
		t.Errorf("err = %v", err)
	}
	_, err = Parse(make([]byte, 2048), Limits{MaxBytes: 1024})
	if err == nil || !strings.Contains(err.Error(), "2048 bytes, the limit is 1024") {
		t.Errorf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(mustReadF(f, "appliance.ovf"))
	f.Add(mustReadF(f, "collection-ovf2.ovf"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data, Limits{MaxBytes: 64 << 10})
		if err == nil && r == nil {
			t.Fatal("no error and no requirements")
		}
	})
}

func mustReadF(f *testing.F, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
