package ovf

import (
	"errors"
	"fmt"
	"testing"
)

// qEnvelope is a one-system descriptor with a disk d1 of capacity disk
// GiB, whose hardware is items.
func qEnvelope(disk, items string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <DiskSection><Info>disks</Info>
    <Disk ovf:diskId="d1" ovf:capacity="%s" ovf:capacityAllocationUnits="byte * 2^30"/>
  </DiskSection>
  <VirtualSystem ovf:id="vm"><Info>vm</Info>
    <VirtualHardwareSection><Info>hw</Info>%s</VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`, disk, items))
}

func item(typ int, extra string) string {
	return fmt.Sprintf(`<Item><rasd:ElementName>x</rasd:ElementName><rasd:InstanceID>%d</rasd:InstanceID><rasd:ResourceType>%d</rasd:ResourceType>%s</Item>`, typ, typ, extra)
}

// TestParseRefusesQuantitiesNoRequestCanHold: a VirtualQuantity of NaN,
// or one past what a uint64 holds, was converted with Go's
// implementation-defined float-to-integer conversion: NaN or 2^64
// processors became 2^63 on amd64, and two items of 2^63 summed to 0
// (the requirement silently dropped). A memory or disk amount that overflows to +Inf, or a
// NaN that poisons the disk total, likewise became 0 GB or vanished.
// Such a descriptor is malformed, not a smaller request.
func TestParseRefusesQuantitiesNoRequestCanHold(t *testing.T) {
	for name, items := range map[string]string{
		"processors NaN":    item(ResourceProcessor, `<rasd:VirtualQuantity>NaN</rasd:VirtualQuantity>`),
		"processors 2^64":   item(ResourceProcessor, `<rasd:VirtualQuantity>18446744073709551616</rasd:VirtualQuantity>`),
		"processors summed": item(ResourceProcessor, `<rasd:VirtualQuantity>9223372036854775808</rasd:VirtualQuantity>`) + item(ResourceProcessor, `<rasd:VirtualQuantity>9223372036854775808</rasd:VirtualQuantity>`),
		"memory NaN":        item(ResourceMemory, `<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>NaN</rasd:VirtualQuantity>`),
		"memory to +Inf":    item(ResourceMemory, `<rasd:AllocationUnits>byte * 2^80</rasd:AllocationUnits><rasd:VirtualQuantity>1e300</rasd:VirtualQuantity>`),
		"speed NaN":         item(ResourceProcessor, `<rasd:VirtualQuantity>1</rasd:VirtualQuantity><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:Reservation>NaN</rasd:Reservation>`),
		"disk to +Inf":      item(ResourceDisk, `<rasd:HostResource>ovf:/disk/d1</rasd:HostResource>`),
	} {
		disk := "16"
		if name == "disk to +Inf" {
			disk = "1e300"
		}
		r, err := Parse(qEnvelope(disk, items), Limits{})
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: requirements %+v, err %v; want the descriptor refused", name, r, err)
		}
	}
}

// TestParseKeepsLargeButSaneQuantities: the refusal is of values no
// request can hold, not of big machines.
func TestParseKeepsLargeButSaneQuantities(t *testing.T) {
	r, err := Parse(qEnvelope("16", item(ResourceProcessor, `<rasd:VirtualQuantity>512</rasd:VirtualQuantity>`)+
		item(ResourceMemory, `<rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits><rasd:VirtualQuantity>24576</rasd:VirtualQuantity>`)), Limits{})
	if err != nil || r.CPUs != 512 || r.MemoryBytes != 24576*(1<<30) {
		t.Errorf("requirements %+v, err %v", r, err)
	}
}
