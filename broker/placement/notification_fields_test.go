package placement

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// notificationTopLeaves names the scalar fields of Notification, Provider
// and Service as the draft's elements do.
var notificationTopLeaves = map[string]string{
	"Notification.ID": "id", "Notification.SeqNumber": "seqnumber",
	"Notification.EncryptionSupport": "encryption-support", "Notification.Label": "label",
	"Provider.ID": "Cloud-Service-Provider-id", "Provider.Status": "Cloud-Service-Provider-status",
	"Provider.URI": "Cloud-Service-Provider-URI",
	"Service.ID":   "Cloud-Service-id", "Service.Status": "Cloud-Service-status", "Service.URI": "Cloud-Service-URI",
}

// TestNotificationLeavesAccounted: every leaf of a <csbnotification>
// either feeds placement (ServiceLeavesUsed) or has a row in
// docs/conformance/notification-fields.md, and nothing else is named.
func TestNotificationLeavesAccounted(t *testing.T) {
	var leaves []string
	for _, typ := range []reflect.Type{reflect.TypeOf(csbmsg.Notification{}), reflect.TypeOf(csbmsg.Provider{}), reflect.TypeOf(csbmsg.Service{})} {
		for i := 0; i < typ.NumField(); i++ {
			sf := typ.Field(i)
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Slice || ft == reflect.TypeOf(csbmsg.Provider{}):
				continue // walked on its own
			case ft.Kind() == reflect.Struct:
				leaves = append(leaves, contract.TypeLeaves(ft, sf.Name)...)
			default:
				name, ok := notificationTopLeaves[typ.Name()+"."+sf.Name]
				if !ok {
					t.Errorf("%s.%s: a leaf without a draft name here", typ.Name(), sf.Name)
				}
				leaves = append(leaves, name)
			}
		}
	}
	doc, err := os.ReadFile("../../docs/conformance/notification-fields.md")
	if err != nil {
		t.Fatal(err)
	}
	used, info, ok := strings.Cut(string(doc), "## Leaves with another use, or informational")
	if !ok {
		t.Fatal("notification-fields.md: the informational table's heading is gone")
	}
	usedRows, infoRows := notificationRows(used), notificationRows(info)
	for _, l := range leaves {
		want := [2]int{0, 1} // one row in the informational table
		if slices.Contains(ServiceLeavesUsed, l) {
			want = [2]int{1, 0} // one row in the table of leaves placement uses
		}
		if got := [2]int{usedRows[l], infoRows[l]}; got != want {
			t.Errorf("%s: rows (used, informational) = %v, want %v", l, got, want)
		}
		delete(usedRows, l)
		delete(infoRows, l)
	}
	for _, u := range ServiceLeavesUsed {
		if !slices.Contains(leaves, u) {
			t.Errorf("ServiceLeavesUsed names %s, not a leaf of a notification", u)
		}
	}
	for r := range usedRows {
		t.Errorf("notification-fields.md names %s, not a leaf of a notification", r)
	}
	for r := range infoRows {
		t.Errorf("notification-fields.md names %s, not a leaf of a notification", r)
	}
}

// notificationRows counts the leaves named in the first cell of each
// table row of md.
func notificationRows(md string) map[string]int {
	rows := map[string]int{}
	for _, m := range regexp.MustCompile("(?m)^\\| (`[^|]+`) \\|").FindAllStringSubmatch(md, -1) {
		for _, c := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[1], -1) {
			rows[c[1]]++
		}
	}
	return rows
}
