package csbcimi

// MachineVolumes: a machine's volumes collection holds the volume created
// with the machine ("1", part of the machine's job) and the volumes
// attached to it later (jobs.VolumeAttachment: POST a MachineVolume to
// attach one, DELETE it to detach). Attach and detach run at the
// machine's provider through its adapter (contract.VolumeAttacher) and
// answer 202 with their CIMI Job, like the machine actions.

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// machineVolumeIn is the body of a POST to a machine's volumes: DSP0263's
// MachineVolume.
type machineVolumeIn struct {
	InitialLocation string `json:"initialLocation" xml:"initialLocation"`
	Volume          *ref   `json:"volume" xml:"volume"`
}

// machineVolumeObjs renders the MachineVolumes of machine j.
func (c *call) machineVolumeObjs(j *jobs.Job) []obj {
	href := c.base + "machines/" + j.ID + "/volumes/"
	var mvs []obj
	if isVolume(j) {
		mv := obj{
			"resourceURI": NS + "/MachineVolume",
			"id":          href + "1",
			"volume":      ref{Href: c.base + "volumes/" + j.ID},
		}
		if l := j.Request.IaaS.StorageLink; l != nil && l.Mountpoint != nil && *l.Mountpoint != "" {
			mv["initialLocation"] = *l.Mountpoint
		}
		mvs = append(mvs, mv)
	}
	for _, a := range j.Attachments {
		mv := obj{
			"resourceURI": NS + "/MachineVolume",
			"id":          href + a.ID,
			"created":     stamp(a.Created),
			"volume":      ref{Href: c.base + "volumes/" + a.Volume},
			"operations":  []op{},
		}
		// A detach runs on a settled successful machine only
		// (jobs.Manager.DetachVolume answers 409 otherwise).
		if settled(j) && j.Status == jobs.StatusSuccess {
			mv["operations"] = []op{{Rel: "delete", Href: href + a.ID}}
		}
		if a.Location != "" {
			mv["initialLocation"] = a.Location
		}
		mvs = append(mvs, mv)
	}
	return mvs
}

// machineVolumes answers a machine's MachineVolume collection (member
// "") or one MachineVolume: GET, POST on the collection (attach), DELETE
// on a member (detach).
func (c *call) machineVolumes(id string, member string) error {
	switch {
	case c.r.Method == http.MethodPost:
		return c.attachVolume(id)
	case c.r.Method == http.MethodDelete:
		return c.detachVolume(id, member)
	}
	q, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	j, _, err := c.ownMachine(id, false)
	if err != nil {
		return err
	}
	mvs := c.machineVolumeObjs(j)
	if member != "" {
		for _, mv := range mvs {
			if mv["id"] == c.base+"machines/"+id+"/volumes/"+member {
				return c.serve(mv, q.project(mv))
			}
		}
		return errorf(http.StatusNotFound, "no MachineVolume %q", member)
	}
	col := c.machineVolumeCollection(j, mvs, q)
	return c.serve(col, col)
}

// machineVolumeCollection renders machine j's MachineVolumes mvs as its
// volumes collection; it offers add (an attach) only while the machine
// takes one, settled and successful (jobs.Manager.AttachVolume answers 409
// otherwise).
func (c *call) machineVolumeCollection(j *jobs.Job, mvs []obj, q *query) obj {
	return c.collection("MachineVolume", "machines/"+j.ID+"/volumes", mvs, q, settled(j) && j.Status == jobs.StatusSuccess)
}

// attachVolume attaches the caller's volume named by a MachineVolume to
// the caller's machine id: 202 with the attach's Job, the new
// MachineVolume in Location; 404 for a machine or volume that is not the
// caller's; 409 when either cannot take it or the provider refused; 501
// when the machine's provider cannot attach a volume to an existing
// machine.
func (c *call) attachVolume(id string) error {
	var in machineVolumeIn
	if err := readBody(c.w, c.r, c.h.MaxBodySize, "MachineVolume", &in); err != nil {
		return err
	}
	if in.Volume == nil || in.Volume.Href == "" {
		return errorf(http.StatusBadRequest, "a MachineVolume needs a volume with an href")
	}
	vid, ok := c.idIn(in.Volume.Href, "volumes")
	if !ok {
		return errorf(http.StatusBadRequest, "volume %q is not a volume of this service (%svolumes/<id>)", in.Volume.Href, c.base)
	}
	if _, _, err := c.ownMachine(id, false); err != nil {
		return err
	}
	if _, err := c.ownVolume(vid); err != nil {
		return err
	}
	rev, err := c.precondition(c.machineVolumeTag(id, ""))
	if err != nil {
		return err
	}
	res, att, err := c.m.AttachVolumeIf(c.ctx, c.owner, id, rev, vid, in.InitialLocation)
	switch {
	case errors.Is(err, jobs.ErrChanged):
		return changedErr(err)
	case errors.Is(err, jobs.ErrNoJob):
		// Gone between the reads above and the attach.
		return errorf(http.StatusNotFound, "no machine %q or no volume %q", id, vid)
	case err != nil:
		return err
	}
	if err := c.volumeOpAnswer(res); err != nil {
		return err
	}
	c.w.Header().Set("Location", c.base+"machines/"+id+"/volumes/"+att.ID)
	return c.writeActionJob(res.Job, false)
}

// detachVolume detaches the caller's machine's MachineVolume member.
func (c *call) detachVolume(id, member string) error {
	j, _, err := c.ownMachine(id, false)
	if err != nil {
		return err
	}
	if member == "1" && isVolume(j) {
		return errorf(http.StatusNotImplemented, "the volume created with machine %s is part of it and goes with it: it is not detached on its own", id)
	}
	if _, err := strconv.ParseUint(member, 10, 64); err != nil {
		return errorf(http.StatusNotFound, "no MachineVolume %q", member)
	}
	rev, err := c.precondition(c.machineVolumeTag(id, member))
	if err != nil {
		return err
	}
	res, err := c.m.DetachVolumeIf(c.ctx, c.owner, id, rev, member)
	switch {
	case errors.Is(err, jobs.ErrChanged):
		return changedErr(err)
	case errors.Is(err, jobs.ErrNoJob):
		return errorf(http.StatusNotFound, "no machine %q", id)
	case errors.Is(err, jobs.ErrNoAttachment):
		return errorf(http.StatusNotFound, "no MachineVolume %q", member)
	case err != nil:
		return err
	}
	if err := c.volumeOpAnswer(res); err != nil {
		return err
	}
	return c.writeActionJob(res.Job, false)
}

// volumeOpAnswer is the error of an attach's or detach's result: 501 when
// the provider's adapter cannot, 409 for any other refusal.
func (c *call) volumeOpAnswer(res *jobs.Result) error {
	switch res.Status {
	case csbmsg.StatusOK:
		return nil
	case csbmsg.StatusUnsupported:
		return errorf(http.StatusNotImplemented, "%s", res.Reason)
	}
	return errorf(http.StatusConflict, "%s", res.Reason)
}
