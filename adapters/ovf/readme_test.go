package ovf

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// The tests below keep README.md's Mapping table and its units paragraph
// in step with what Parse and Apply do. The code has no mapping table, so
// each README row is checked against the code's behaviour on a descriptor
// built for it, and the names the README cites (CIM settings, OVF
// attributes, hardware elements, unit names) against the code's.

const readme = "README.md"

// hwItem renders one hardware item of ResourceType rt whose settings
// serve every type the expansion could read: qty CPUs or qty × 2^28 bytes
// of memory (1.25 GiB for 5), a 1100 MHz reservation, the disk d1
// (5 × 2^28 bytes) and the network "net" with a MAC.
func hwItem(tag string, rt, qty int, config string) string {
	attr := ""
	if config != "" {
		attr = fmt.Sprintf(` ovf:configuration=%q`, config)
	}
	return fmt.Sprintf(`<%[1]s%[2]s>
  <rasd:ResourceType>%[3]d</rasd:ResourceType>
  <rasd:VirtualQuantity>%[4]d</rasd:VirtualQuantity>
  <rasd:VirtualQuantityUnits>byte * 2^28</rasd:VirtualQuantityUnits>
  <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
  <rasd:Reservation>1100</rasd:Reservation>
  <rasd:HostResource>ovf:/disk/d1</rasd:HostResource>
  <rasd:Connection>net</rasd:Connection>
  <rasd:Address>00:50:56:aa:bb:cc</rasd:Address>
</%[1]s>
`, tag, attr, rt, qty)
}

func envelope(sections, items string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:id="f1" ovf:href="d1.vmdk" ovf:size="1342177280"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:diskId="d1" ovf:capacity="5" ovf:capacityAllocationUnits="byte * 2^28"/></DiskSection>
  <NetworkSection><Info>networks</Info><Network ovf:name="net"/></NetworkSection>
` + sections + `
  <VirtualSystem ovf:id="vs"><Info>vm</Info>
    <VirtualHardwareSection><Info>hw</Info>
` + items + `
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`)
}

// expand parses a descriptor and applies it to an empty IaaS request; it
// returns the request's set values as "element.child" (or "element" for
// an element with no child set), lower case, with their values.
func expand(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	r, err := Parse(doc, Limits{})
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	ia := &csbmsg.IaaS{}
	r.Apply(ia)
	out := map[string]string{}
	v := reflect.ValueOf(ia).Elem()
	for i := range v.NumField() {
		elem := strings.ToLower(v.Type().Field(i).Name)
		e := v.Field(i)
		if e.IsNil() || elem == "link" {
			continue
		}
		n := 0
		for j := range e.Elem().NumField() {
			f := e.Elem().Field(j)
			if f.Kind() == reflect.Pointer && !f.IsNil() {
				out[elem+"."+strings.ToLower(e.Elem().Type().Field(j).Name)] = fmt.Sprint(f.Elem().Interface())
				n++
			}
		}
		if n == 0 {
			out[elem] = ""
		}
	}
	return out
}

// TestReadmeMapping: the Mapping table. Every ResourceType the code reads
// has rows, and no other; each row names exactly the request values an
// item of its type fills in; "rounded up" and "sum" rules hold; the
// DeploymentOptionSection and item element rows hold.
func TestReadmeMapping(t *testing.T) {
	rows := adaptertest.ReadmeTable(t, readme, "| descriptor | CSB request | rule |")
	rtRe := regexp.MustCompile(`ResourceType (\d+)`)
	byType := map[int][][]string{}
	for _, cells := range rows {
		m := rtRe.FindAllStringSubmatch(cells[0], -1)
		switch {
		case len(m) == 1:
			rt, _ := strconv.Atoi(m[0][1])
			byType[rt] = append(byType[rt], cells)
		case strings.HasPrefix(cells[0], "`DeploymentOptionSection`"):
			checkDeploymentOptions(t, cells)
		case strings.HasPrefix(cells[0], "`Item`"):
			checkItemElements(t, cells)
		default:
			t.Errorf("row %q: no check for it; add one here", cells)
		}
	}

	// The types the code reads: those whose item changes the result.
	read := map[int]bool{}
	for rt := range 64 {
		r, err := Parse(envelope("", hwItem("Item", rt, 5, "")), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if r.CPUs != 0 || r.CPUHz != 0 || r.MemoryBytes != 0 || r.DiskBytes != 0 || len(r.Networks) != 0 {
			read[rt] = true
		}
	}
	if got := slices.Sorted(maps.Keys(byType)); !slices.Equal(got, slices.Sorted(maps.Keys(read))) {
		t.Errorf("README maps ResourceTypes %v; the code reads %v", got, slices.Sorted(maps.Keys(read)))
	}

	cpu := hwItem("Item", ResourceProcessor, 5, "")
	base := expand(t, envelope("", cpu))
	for rt, rows := range byType {
		if !read[rt] {
			continue
		}
		// What an item of type rt adds (beside a CPU, so that a disk gets
		// its storagelink).
		one, two := base, expand(t, envelope("", cpu+cpu))
		if rt != ResourceProcessor {
			it := hwItem("Item", rt, 5, "")
			one = diff(expand(t, envelope("", cpu+it)), base)
			two = diff(expand(t, envelope("", cpu+it+it)), base)
		}
		covered := map[string]bool{}
		for _, cells := range rows {
			names := rowNames(t, cells, one)
			for _, n := range names {
				covered[n] = true
				if _, err := strconv.Atoi(one[n]); err != nil {
					continue // an element, or a MAC: no amount
				}
				if strings.Contains(cells[2], "rounded up") && one[n] != "2" {
					// hwItem's amounts are 1.1 GHz and 1.25 GiB.
					t.Errorf("ResourceType %d: README says %s is rounded up; the code gives %s", rt, n, one[n])
				}
				if strings.Contains(cells[2], "sum") {
					a, _ := strconv.Atoi(one[n])
					b, _ := strconv.Atoi(two[n])
					if b <= a {
						t.Errorf("ResourceType %d: README says %s sums the items; the code gives %d for one, %d for two", rt, n, a, b)
					}
				}
			}
		}
		for n := range one {
			if !covered[n] {
				t.Errorf("ResourceType %d fills %s, which README's rows for it do not name", rt, n)
			}
		}
	}
}

func diff(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			out[k] = v
		}
	}
	return out
}

// rowNames returns the filled values a row's CSB cell names: "`cores`"
// names compute.cores; "`NetworkInterface` (MAC ...)" names
// networkinterface.mac. A code span naming nothing filled is an error.
func rowNames(t *testing.T, cells []string, filled map[string]string) []string {
	t.Helper()
	cell := cells[1]
	var toks []string
	for _, tok := range adaptertest.Backticked(cell) {
		if !strings.Contains(tok, ":") { // rasd:Address is a source, not a target
			toks = append(toks, strings.ToLower(tok))
		}
	}
	var out []string
	used := map[string]bool{}
	for n := range filled {
		elem, child, _ := strings.Cut(n, ".")
		switch {
		case child != "" && slices.Contains(toks, child):
			used[child] = true
		case slices.Contains(toks, elem) && (child == "" || strings.Contains(strings.ToLower(cell), child)):
			used[elem] = true
		default:
			continue
		}
		out = append(out, n)
	}
	for _, tok := range toks {
		if !used[tok] {
			t.Errorf("row %q names %s, which the code does not fill", cells[0], tok)
		}
	}
	// A value of an element the cell names, named in its prose ("MAC
	// from ..."), must be filled too.
	words := map[string]bool{}
	for _, w := range regexp.MustCompile("`[^`]*:[^`]*`|[A-Za-z]+").FindAllString(cell, -1) {
		if !strings.HasPrefix(w, "`") {
			words[strings.ToLower(w)] = true
		}
	}
	ia := reflect.TypeFor[csbmsg.IaaS]()
	for i := range ia.NumField() {
		elem := strings.ToLower(ia.Field(i).Name)
		et := ia.Field(i).Type.Elem()
		if !words[elem] || et.Kind() != reflect.Struct {
			continue
		}
		for j := range et.NumField() {
			child := strings.ToLower(et.Field(j).Name)
			if _, ok := filled[elem+"."+child]; words[child] && !ok {
				t.Errorf("row %q names %s %s, which the code does not fill", cells[0], elem, child)
			}
		}
	}
	return out
}

// checkDeploymentOptions: items of the default configuration only.
func checkDeploymentOptions(t *testing.T, cells []string) {
	t.Helper()
	if !strings.Contains(cells[2], "default configuration only") {
		t.Errorf("row %q: no check for its rule", cells)
		return
	}
	opts := `<DeploymentOptionSection><Info>sizes</Info>
  <Configuration ovf:id="small"><Label>small</Label><Description>s</Description></Configuration>
  <Configuration ovf:id="large" ovf:default="true"><Label>large</Label><Description>l</Description></Configuration>
</DeploymentOptionSection>`
	got := expand(t, envelope(opts, hwItem("Item", ResourceProcessor, 2, "small")+hwItem("Item", ResourceProcessor, 8, "large")))
	if got["compute.cores"] != "8" {
		t.Errorf("README reads the default configuration only; the code gives %s cores (small 2, large 8 and default)", got["compute.cores"])
	}
}

// checkItemElements: the elements read as hardware items are itemElements,
// and each is read.
func checkItemElements(t *testing.T, cells []string) {
	t.Helper()
	if got := adaptertest.Backticked(cells[0]); !slices.Equal(got, itemElements) {
		t.Errorf("README reads the items %v; the code %v", got, itemElements)
	}
	for _, tag := range itemElements {
		if got := expand(t, envelope("", hwItem(tag, ResourceProcessor, 3, ""))); got["compute.cores"] != "3" {
			t.Errorf("a %s is not read: %v", tag, got)
		}
	}
}

// TestReadmeNamesWhatTheCodeReads: the CIM settings (rasd:X) and OVF
// attributes (ovf:x) the Mapping table cites are ones the code reads, and
// every CIM setting the code reads is cited.
func TestReadmeNamesWhatTheCodeReads(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "descriptor.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The string arguments of cimChild(item, "X") and ovfAttr(e, "x"),
	// also through a loop variable (for _, k := range []string{...}), and
	// every string literal (for ovf:/disk/ and such).
	calls := map[string]map[string]bool{"cimChild": {}, "ovfAttr": {}}
	literals := map[string]bool{}
	rangeOver := map[string][]string{} // loop variable -> the literals it takes
	var viaVar [][2]string             // {function, loop variable}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.RangeStmt:
			v, ok1 := n.Value.(*ast.Ident)
			lit, ok2 := n.X.(*ast.CompositeLit)
			if ok1 && ok2 {
				for _, e := range lit.Elts {
					if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
						s, _ := strconv.Unquote(b.Value)
						rangeOver[v.Name] = append(rangeOver[v.Name], s)
					}
				}
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && calls[id.Name] != nil && len(n.Args) == 2 {
				switch a := n.Args[1].(type) {
				case *ast.BasicLit:
					s, _ := strconv.Unquote(a.Value)
					calls[id.Name][s] = true
				case *ast.Ident:
					viaVar = append(viaVar, [2]string{id.Name, a.Name})
				}
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				s, _ := strconv.Unquote(n.Value)
				literals[s] = true
			}
		}
		return true
	})
	for _, fv := range viaVar {
		for _, s := range rangeOver[fv[1]] {
			calls[fv[0]][s] = true
		}
	}
	if len(calls["cimChild"]) < 5 {
		t.Fatalf("found only %v cimChild reads; has descriptor.go changed shape?", calls["cimChild"])
	}
	var table strings.Builder
	for _, cells := range adaptertest.ReadmeTable(t, readme, "| descriptor | CSB request | rule |") {
		table.WriteString(strings.Join(cells, " | ") + "\n")
	}
	doc := table.String()
	for _, tok := range adaptertest.Backticked(doc) {
		switch {
		case strings.HasPrefix(tok, "rasd:"):
			if !calls["cimChild"][strings.TrimPrefix(tok, "rasd:")] {
				t.Errorf("README cites %s, which the code does not read", tok)
			}
		case strings.HasPrefix(tok, "ovf:/"):
			prefix, _, _ := strings.Cut(tok, "<")
			if !literals[prefix] {
				t.Errorf("README cites %s, which the code does not resolve", tok)
			}
		case strings.HasPrefix(tok, "ovf:"):
			if !calls["ovfAttr"][strings.TrimPrefix(tok, "ovf:")] {
				t.Errorf("README cites %s, which the code does not read", tok)
			}
		}
	}
	for k := range calls["cimChild"] {
		if !regexp.MustCompile(`\b` + k + `\b`).MatchString(doc) {
			t.Errorf("the code reads the CIM setting %s, which README's table does not cite", k)
		}
	}
}

// TestReadmeUnits: the units paragraph. Its programmatic units parse, and
// its unit names are exactly the names the code knows.
func TestReadmeUnits(t *testing.T) {
	p := adaptertest.ReadmeParagraph(t, readme, "Units follow")
	var names []string
	for _, tok := range adaptertest.Backticked(p) {
		if strings.ContainsAny(tok, "*^") {
			_, errB := unitMultiplier(tok, "byte")
			_, errH := unitMultiplier(tok, "hertz")
			if errB != nil && errH != nil {
				t.Errorf("README cites the unit %q, which the code refuses: %v", tok, errB)
			}
			continue
		}
		names = append(names, strings.ToLower(tok))
	}
	var known []string
	for base, m := range namedUnits {
		for name, mult := range m {
			known = append(known, name)
			if base == "byte" && strings.Contains(p, "binary") {
				if k := uint64(mult); k&(k-1) != 0 {
					t.Errorf("README says byte units are binary; %s is %v", name, mult)
				}
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	slices.Sort(known)
	if !slices.Equal(names, known) {
		t.Errorf("README names the units %v; the code knows %v", names, known)
	}
}
