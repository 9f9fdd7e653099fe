package publish

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// checkNotificationURLs checks the URLs of a notification that the
// broker may call or proxy to: the Cloud-Service-Provider-URI, and each
// service's (CheckServiceURLs). It returns where the refused URL was and
// why.
func checkNotificationURLs(n *csbmsg.Notification, check func(*url.URL) error) error {
	if err := checkRef("Cloud-Service-Provider-URI", n.Provider.URI, check); err != nil {
		return err
	}
	for _, s := range n.Services {
		if err := CheckServiceURLs(s, check); err != nil {
			return err
		}
	}
	return nil
}

// CheckServiceURLs checks the URLs of a service that the broker may call
// or proxy to, with check (a provider's peer URL policy): its
// Cloud-Service-URI and its Link hrefs. References that are not network
// URLs (relative references, URNs: no host and not http or https) are
// left alone, since nothing can dial them. The error says where the
// refused URL was and why.
func CheckServiceURLs(s csbmsg.Service, check func(*url.URL) error) error {
	if err := checkRef(fmt.Sprintf("Cloud-Service-URI of service %s", s.ID), s.URI, check); err != nil {
		return err
	}
	for _, l := range serviceLinks(s) {
		if err := checkRef(fmt.Sprintf("Link href of service %s", s.ID), l.Href, check); err != nil {
			return err
		}
	}
	return nil
}

func checkRef(where, ref string, check func(*url.URL) error) error {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return fmt.Errorf("%s %q is not a url", where, ref)
	}
	if u.Host == "" && u.Scheme != "http" && u.Scheme != "https" {
		return nil
	}
	if err := check(u); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// serviceLinks returns the Links of a service.
func serviceLinks(s csbmsg.Service) []*csbmsg.Link {
	var out []*csbmsg.Link
	if s.IaaS != nil && s.IaaS.Link != nil {
		out = append(out, s.IaaS.Link)
	}
	if s.PaaS != nil && s.PaaS.Link != nil {
		out = append(out, s.PaaS.Link)
	}
	if s.SaaS != nil && s.SaaS.Link != nil {
		out = append(out, s.SaaS.Link)
	}
	if s.DSaaS != nil && s.DSaaS.Link != nil {
		out = append(out, s.DSaaS.Link)
	}
	return out
}
