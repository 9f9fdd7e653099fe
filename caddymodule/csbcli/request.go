package csbcli

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// requestFlags are the flags of "request" and "explain".
type requestFlags struct {
	file       string
	cores      uint64
	memory     uint64
	storage    uint64
	speed      uint64
	arch       string
	hostname   string
	container  string
	object     string
	rel, href  string
	encryption bool
	lease      time.Duration
	provider   []string
	wait       bool
	idemKey    string
}

func (f *requestFlags) register(cmd *cobra.Command, withWait bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.file, "file", "", "send this <csbconsumer> request document instead of building one from flags")
	fs.Uint64Var(&f.cores, "cores", 0, "iaas: CPU cores")
	fs.Uint64Var(&f.memory, "memory", 0, "iaas: memory in GB")
	fs.Uint64Var(&f.storage, "storage", 0, "iaas: storage in GB")
	fs.Uint64Var(&f.speed, "speed", 0, "iaas: CPU speed in GHz")
	fs.StringVar(&f.arch, "arch", "", "iaas: CPU architecture (x86_64, ...)")
	fs.StringVar(&f.hostname, "hostname", "", "iaas: the machine's host name")
	fs.StringVar(&f.container, "container", "", "dsaas: the container's objectID (by default the provider names it after the job)")
	fs.StringVar(&f.object, "object", "", "dsaas: store this text file as a data object in the container")
	fs.StringVar(&f.rel, "rel", "", "saas, paas (and dsaas): the Link rel of the service")
	fs.StringVar(&f.href, "href", "", "saas, paas: the Link href")
	fs.BoolVar(&f.encryption, "encryption", false, "ask for an encrypted service")
	fs.DurationVar(&f.lease, "lease", 0, "lease to ask for (e.g. 2h; default: the broker's)")
	fs.StringSliceVar(&f.provider, "provider", nil, "consider only these providers (comma-separated)")
	if withWait {
		fs.BoolVar(&f.wait, "wait", false, "follow the job until it has finished provisioning")
		fs.StringVar(&f.idemKey, "idempotency-key", "", "send an Idempotency-Key: retrying with the same key returns the same job")
	}
}

// build returns the request document: the --file's bytes as they are
// (checked to be a <CloudServiceRequest> to create a job), or the
// document built with csbmsg from the service model and the flags.
func (f *requestFlags) build(model string) ([]byte, error) {
	if f.file != "" {
		if model != "" {
			return nil, errors.New("give either a service model with its flags or --file, not both")
		}
		data, err := os.ReadFile(f.file)
		if err != nil {
			return nil, err
		}
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.file, err)
		}
		if msg.Request == nil || msg.Request.JobInfo != nil {
			return nil, fmt.Errorf("%s: want a <CloudServiceRequest> without <job-info> (use renew, rm for existing jobs)", f.file)
		}
		return data, nil
	}
	req, err := f.request(model)
	if err != nil {
		return nil, err
	}
	return csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req})
}

// request builds a <CloudServiceRequest> for one service model.
func (f *requestFlags) request(model string) (*csbmsg.ServiceRequest, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	num := func(n uint64) *uint64 {
		if n == 0 {
			return nil
		}
		return &n
	}
	var link *csbmsg.Link
	if f.rel != "" || f.href != "" {
		link = &csbmsg.Link{Rel: f.rel, Href: f.href}
	}
	notFor := func(names ...string) error {
		for _, n := range names {
			set := map[string]bool{"cores": f.cores != 0, "memory": f.memory != 0, "storage": f.storage != 0, "speed": f.speed != 0,
				"arch": f.arch != "", "hostname": f.hostname != "", "container": f.container != "", "object": f.object != "",
				"rel": f.rel != "", "href": f.href != ""}[n]
			if set {
				return fmt.Errorf("--%s does not apply to %s", n, model)
			}
		}
		return nil
	}
	req := &csbmsg.ServiceRequest{}
	if f.encryption {
		t := true
		req.Encryption = &t
	}
	switch strings.ToLower(model) {
	case "iaas":
		if err := notFor("container", "object", "rel", "href"); err != nil {
			return nil, err
		}
		if f.cores == 0 && f.memory == 0 && f.storage == 0 && f.speed == 0 && f.arch == "" {
			return nil, errors.New("iaas: give at least one of --cores, --memory, --storage, --speed, --arch")
		}
		req.IaaS = &csbmsg.IaaS{}
		if f.cores != 0 || f.memory != 0 || f.speed != 0 || f.arch != "" || f.hostname != "" {
			req.IaaS.Compute = &csbmsg.Compute{Architecture: opt(f.arch), Cores: num(f.cores), Memory: num(f.memory), Speed: num(f.speed), Hostname: opt(f.hostname)}
		}
		if f.storage != 0 {
			req.IaaS.Storage = &csbmsg.Storage{Size: num(f.storage)}
		}
	case "dsaas":
		if err := notFor("cores", "memory", "storage", "speed", "arch", "hostname", "href"); err != nil {
			return nil, err
		}
		ds := &csbmsg.DSaaS{Link: link, ContainerObject: &csbmsg.ContainerObject{}}
		if f.container != "" {
			ds.ContainerObject.ObjectID = &f.container
		}
		if f.object != "" {
			data, err := os.ReadFile(f.object)
			if err != nil {
				return nil, err
			}
			if !utf8.Valid(data) {
				return nil, fmt.Errorf("--object %s: the draft's <value> carries text, and this file is not UTF-8 text", f.object)
			}
			name := filepath.Base(f.object)
			mt := mime.TypeByExtension(filepath.Ext(name))
			if mt == "" {
				mt = "text/plain"
			}
			text := string(data)
			ds.DataObject = &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: &name}, Mimetype: &mt, Value: &text}
		}
		req.DSaaS = ds
	case "saas", "paas":
		if err := notFor("cores", "memory", "storage", "speed", "arch", "hostname", "container", "object"); err != nil {
			return nil, err
		}
		if link == nil {
			return nil, fmt.Errorf("%s: give --rel (the Link rel of the service)", model)
		}
		if strings.EqualFold(model, "saas") {
			req.SaaS = &csbmsg.SaaS{Link: link}
		} else {
			req.PaaS = &csbmsg.PaaS{Link: link}
		}
	case "":
		return nil, errors.New("name a service model (iaas, dsaas, saas, paas) or give --file")
	default:
		return nil, fmt.Errorf("unknown service model %q: want iaas, dsaas, saas or paas", model)
	}
	return req, nil
}

// leaseSeconds is the Csb-Lease header for a --lease ("" when unset).
func leaseSeconds(d time.Duration) (string, error) {
	if d == 0 {
		return "", nil
	}
	if d < 0 {
		return "", errors.New("--lease must be positive")
	}
	s := math.Ceil(d.Seconds())
	if s > math.MaxUint32 {
		return "", errors.New("--lease is too long")
	}
	return fmt.Sprintf("%d", int64(s)), nil
}
