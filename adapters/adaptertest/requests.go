package adaptertest

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// IaaS returns an IaaS request for a compute of cores and memGB (GB), and
// storage of diskGB (GB); a zero leaves the element out.
func IaaS(cores, memGB, diskGB uint64) csbmsg.ServiceRequest {
	x := &csbmsg.IaaS{Compute: &csbmsg.Compute{}}
	if cores > 0 {
		x.Compute.Cores = &cores
	}
	if memGB > 0 {
		x.Compute.Memory = &memGB
	}
	if diskGB > 0 {
		x.Storage = &csbmsg.Storage{Size: &diskGB}
	}
	return csbmsg.ServiceRequest{IaaS: x}
}

// ComputeAction returns an update request carrying a compute action.
func ComputeAction(a csbmsg.ComputeAction) csbmsg.ServiceRequest {
	return csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: &a}}}
}

// ComputeStatus returns the compute status a resource grants, or "".
func ComputeStatus(res *contract.Resource) csbmsg.ComputeStatus {
	if res.Granted.IaaS == nil || res.Granted.IaaS.Compute == nil || res.Granted.IaaS.Compute.Status == nil {
		return ""
	}
	return *res.Granted.IaaS.Compute.Status
}

// HasComputeStatus is a Check that the resource grants compute status
// want.
func HasComputeStatus(want csbmsg.ComputeStatus) func(testing.TB, *contract.Resource) {
	return func(t testing.TB, res *contract.Resource) {
		t.Helper()
		if got := ComputeStatus(res); got != want {
			t.Errorf("compute status %q, want %q", got, want)
		}
	}
}

// ActionUpdate is the lifecycle Update that runs compute action a and
// checks that the compute then has status want.
func ActionUpdate(a csbmsg.ComputeAction, want csbmsg.ComputeStatus) Update {
	return Update{Name: string(a), Req: contract.Request{Want: ComputeAction(a)}, Check: HasComputeStatus(want)}
}
