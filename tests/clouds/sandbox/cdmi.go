package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CDMI protocol constants (SNIA CDMI 1.1.1).
const (
	cdmiVersion     = "1.1.1"
	cdmiVersionHdr  = "X-CDMI-Specification-Version"
	ctCDMIObject    = "application/cdmi-object"
	ctCDMIContainer = "application/cdmi-container"
	ctCDMIDomain    = "application/cdmi-domain"
	ctCDMIQueue     = "application/cdmi-queue"
	ctCDMICap       = "application/cdmi-capability"
)

type cdmiObject struct {
	path       string // "/c1/", "/c1/obj", "/cdmi_domains/d1/"
	objectType string // one of the ctCDMI* types
	id         string
	metadata   map[string]any
	mimetype   string
	value      string // data objects: the value as stored (decoded)
	base64     bool   // value transfer encoding of the value
	queue      []string
	created    time.Time
	system     bool
}

func (o *cdmiObject) size() int64 {
	n := int64(len(o.value))
	for _, q := range o.queue {
		n += int64(len(q))
	}
	return n
}

// The capability tree the sandbox serves under /cdmi_capabilities/.
var cdmiCapabilities = map[string]map[string]string{
	"": {
		"cdmi_domains":           "true",
		"cdmi_queues":            "true",
		"cdmi_dataobjects":       "true",
		"cdmi_metadata_maxitems": "1024",
		"cdmi_metadata_maxsize":  "4096",
		"cdmi_size":              "true",
		"cdmi_list_children":     "true",
	},
	"container/": {
		"cdmi_list_children":     "true",
		"cdmi_read_metadata":     "true",
		"cdmi_modify_metadata":   "true",
		"cdmi_create_dataobject": "true",
		"cdmi_create_container":  "true",
		"cdmi_create_queue":      "true",
		"cdmi_delete_container":  "true",
	},
	"dataobject/": {
		"cdmi_read_value":        "true",
		"cdmi_read_metadata":     "true",
		"cdmi_modify_value":      "true",
		"cdmi_modify_metadata":   "true",
		"cdmi_delete_dataobject": "true",
	},
	"domain/": {
		"cdmi_domain_members":   "false",
		"cdmi_read_metadata":    "true",
		"cdmi_modify_metadata":  "true",
		"cdmi_create_container": "false",
		"cdmi_delete_domain":    "true",
	},
	"queue/": {
		"cdmi_read_value":      "true",
		"cdmi_read_metadata":   "true",
		"cdmi_modify_value":    "true",
		"cdmi_modify_metadata": "true",
		"cdmi_delete_queue":    "true",
	},
}

func (c *Cloud) initCDMI() {
	now := c.clk.Now()
	c.objects["/"] = &cdmiObject{path: "/", objectType: ctCDMIContainer, id: newObjectID(), metadata: map[string]any{}, created: now, system: true}
	c.objects["/cdmi_domains/"] = &cdmiObject{path: "/cdmi_domains/", objectType: ctCDMIDomain, id: newObjectID(), metadata: map[string]any{}, created: now, system: true}
}

// newObjectID returns a CDMI object ID (CDMI 1.1.1 section 5.10): an
// 8-byte header (reserved zero byte, 3-byte SNIA enterprise number 20974,
// reserved byte, length, 2-byte CRC-16 of the whole ID with the CRC field
// zero) followed by 16 random bytes, hex-encoded.
func newObjectID() string {
	var b [24]byte
	b[1], b[2], b[3] = 0x00, 0x51, 0xEE // 20974
	b[5] = byte(len(b))
	_, _ = rand.Read(b[8:])
	crc := crc16(b[:])
	b[6], b[7] = byte(crc>>8), byte(crc)
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// crc16 is CRC-16/ARC (polynomial 0x8005, reflected).
func crc16(data []byte) uint16 {
	var crc uint16
	for _, d := range data {
		crc ^= uint16(d)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// CDMI returns the cloud's CDMI API, mounted at prefix ("/cdmi").
func (c *Cloud) CDMI(prefix string) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	return c.withFaults(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix) {
			http.NotFound(w, r)
			return
		}
		p := strings.TrimPrefix(r.URL.Path, prefix)
		if p == "" {
			p = "/"
		}
		w.Header().Set(cdmiVersionHdr, cdmiVersion)
		status, ct, body := c.serveCDMI(r, p, baseURL(r, prefix))
		writeJSON(w, status, ct, body)
	}))
}

func cdmiErr(status int, msg string) (int, string, any) {
	return status, "application/json", map[string]string{"error": msg}
}

func (c *Cloud) serveCDMI(r *http.Request, p, base string) (int, string, any) {
	if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "//") {
		return cdmiErr(http.StatusBadRequest, "invalid path")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	cdmiRequest := strings.HasPrefix(ct, "application/cdmi-") || strings.Contains(r.Header.Get("Accept"), "application/cdmi-")
	if cdmiRequest && r.Header.Get(cdmiVersionHdr) == "" {
		return cdmiErr(http.StatusBadRequest, "missing "+cdmiVersionHdr)
	}
	if v := r.Header.Get(cdmiVersionHdr); v != "" && !versionOffered(v) {
		return cdmiErr(http.StatusBadRequest, "unsupported CDMI version "+v)
	}
	if strings.HasPrefix(p, "/cdmi_capabilities/") {
		if r.Method != http.MethodGet {
			return cdmiErr(http.StatusMethodNotAllowed, "capabilities are read-only")
		}
		return c.capability(r, strings.TrimPrefix(p, "/cdmi_capabilities/"), base)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		o, ok := c.objects[p]
		if !ok {
			return cdmiErr(http.StatusNotFound, "no object at "+p)
		}
		if a := r.Header.Get("Accept"); a != "" && !acceptsType(a, o.objectType) {
			return cdmiErr(http.StatusNotAcceptable, "object is "+o.objectType)
		}
		body := c.cdmiJSON(o, base, r.URL.RawQuery)
		if r.URL.RawQuery != "" && o.objectType != ctCDMIQueue {
			// A queue's query is its values:<count> (cdmiJSON); any
			// other object's is a field selection.
			sel, err := selectFields(o, body, r.URL.RawQuery)
			if err != nil {
				return cdmiErr(http.StatusBadRequest, err.Error())
			}
			body = sel
		}
		return http.StatusOK, o.objectType, body
	case http.MethodPut:
		return c.cdmiPutLocked(r, p, ct, base)
	case http.MethodPost:
		o, ok := c.objects[p]
		if !ok || o.objectType != ctCDMIQueue {
			return cdmiErr(http.StatusNotFound, "no queue at "+p)
		}
		var req struct {
			Value json.RawMessage `json:"value"`
		}
		if err := decodeBody(r, &req); err != nil {
			return cdmiErr(http.StatusBadRequest, "invalid queue value: "+err.Error())
		}
		var vals []string
		if err := json.Unmarshal(req.Value, &vals); err != nil {
			var one string
			if err := json.Unmarshal(req.Value, &one); err != nil {
				return cdmiErr(http.StatusBadRequest, "value must be a string or a list of strings")
			}
			vals = []string{one}
		}
		var n int64
		for _, v := range vals {
			n += int64(len(v))
		}
		if err := c.reserveLocked(0, 0, n); err != nil {
			return cdmiErr(http.StatusInsufficientStorage, err.Error())
		}
		o.queue = append(o.queue, vals...)
		return http.StatusNoContent, "", nil
	case http.MethodDelete:
		o, ok := c.objects[p]
		if !ok {
			return cdmiErr(http.StatusNotFound, "no object at "+p)
		}
		if o.system {
			return cdmiErr(http.StatusForbidden, "cannot delete "+p)
		}
		if o.objectType == ctCDMIQueue && strings.HasPrefix(r.URL.RawQuery, "values:") {
			// Dequeue: DELETE <queue>?values:<count>.
			n, err := strconv.Atoi(strings.TrimPrefix(r.URL.RawQuery, "values:"))
			if err != nil || n < 0 {
				return cdmiErr(http.StatusBadRequest, "invalid values count")
			}
			n = min(n, len(o.queue))
			var freed int64
			for _, v := range o.queue[:n] {
				freed += int64(len(v))
			}
			o.queue = o.queue[n:]
			_ = c.reserveLocked(0, 0, -freed)
			return http.StatusNoContent, "", nil
		}
		// Deleting a container or domain deletes everything below it.
		var freed int64
		for k, x := range c.objects {
			if k == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(k, p)) {
				freed += x.size()
				delete(c.objects, k)
			}
		}
		_ = c.reserveLocked(0, 0, -freed)
		return http.StatusNoContent, "", nil
	}
	return cdmiErr(http.StatusMethodNotAllowed, "method not allowed")
}

func versionOffered(list string) bool {
	for _, v := range strings.Split(list, ",") {
		switch strings.TrimSpace(v) {
		case "1.1.1", "1.1", "1.0.2":
			return true
		}
	}
	return false
}

func acceptsType(accept, typ string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		if mt == typ || mt == "*/*" || mt == "application/*" || mt == "" {
			return true
		}
	}
	return false
}

func parentOf(p string) string {
	t := strings.TrimSuffix(p, "/")
	i := strings.LastIndex(t, "/")
	return t[:i+1]
}

func nameOf(p string) string {
	t := strings.TrimSuffix(p, "/")
	return t[strings.LastIndex(t, "/")+1:] + strings.Repeat("/", len(p)-len(t))
}

func (c *Cloud) cdmiPutLocked(r *http.Request, p, ct, base string) (int, string, any) {
	var req struct {
		Metadata              map[string]any  `json:"metadata"`
		Mimetype              string          `json:"mimetype"`
		Value                 *string         `json:"value"`
		ValueTransferEncoding string          `json:"valuetransferencoding"`
		DomainURI             string          `json:"domainURI"`
		Extra                 json.RawMessage `json:"-"`
	}
	if err := decodeBodyMax(r, &req, cdmiMaxBody); err != nil {
		return cdmiErr(http.StatusBadRequest, "invalid body: "+err.Error())
	}
	isDir := strings.HasSuffix(p, "/")
	switch ct {
	case ctCDMIContainer, ctCDMIDomain:
		if !isDir {
			return cdmiErr(http.StatusBadRequest, "container and domain URIs end with /")
		}
		if ct == ctCDMIDomain && !strings.HasPrefix(p, "/cdmi_domains/") {
			return cdmiErr(http.StatusBadRequest, "domains live under /cdmi_domains/")
		}
	case ctCDMIObject, ctCDMIQueue:
		if isDir {
			return cdmiErr(http.StatusBadRequest, "object URIs do not end with /")
		}
	default:
		return cdmiErr(http.StatusUnsupportedMediaType, "content type must be application/cdmi-*")
	}
	parent, ok := c.objects[parentOf(p)]
	if !ok {
		return cdmiErr(http.StatusNotFound, "parent "+parentOf(p)+" does not exist")
	}
	if ct == ctCDMIDomain && parent.objectType != ctCDMIDomain {
		return cdmiErr(http.StatusBadRequest, "a domain's parent must be a domain")
	}
	if ct != ctCDMIDomain && parent.objectType != ctCDMIContainer {
		return cdmiErr(http.StatusBadRequest, "parent "+parentOf(p)+" is not a container")
	}
	value := ""
	b64 := req.ValueTransferEncoding == "base64"
	if req.Value != nil {
		if ct != ctCDMIObject {
			return cdmiErr(http.StatusBadRequest, "only data objects carry a value on PUT")
		}
		value = *req.Value
		if b64 {
			d, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				return cdmiErr(http.StatusBadRequest, "value is not base64")
			}
			value = string(d)
		}
	}
	o, exists := c.objects[p]
	if exists {
		if o.objectType != ct {
			return cdmiErr(http.StatusConflict, p+" is a "+o.objectType)
		}
		if o.system {
			return cdmiErr(http.StatusForbidden, "cannot modify "+p)
		}
		if req.Value != nil {
			if err := c.reserveLocked(0, 0, int64(len(value))-int64(len(o.value))); err != nil {
				return cdmiErr(http.StatusInsufficientStorage, err.Error())
			}
			o.value, o.base64 = value, b64
		}
		if req.Metadata != nil {
			o.metadata = req.Metadata
		}
		if req.Mimetype != "" {
			o.mimetype = req.Mimetype
		}
		return http.StatusNoContent, "", nil
	}
	if err := c.reserveLocked(0, 0, int64(len(value))); err != nil {
		return cdmiErr(http.StatusInsufficientStorage, err.Error())
	}
	o = &cdmiObject{path: p, objectType: ct, id: newObjectID(), metadata: req.Metadata, mimetype: req.Mimetype, value: value, base64: b64, created: c.clk.Now()}
	if o.metadata == nil {
		o.metadata = map[string]any{}
	}
	if ct == ctCDMIObject && o.mimetype == "" {
		o.mimetype = "text/plain"
	}
	c.objects[p] = o
	return http.StatusCreated, ct, c.cdmiJSON(o, base, "")
}

func (c *Cloud) cdmiJSON(o *cdmiObject, base, query string) map[string]any {
	parent := parentOf(o.path)
	out := map[string]any{
		"objectType":       o.objectType,
		"objectID":         o.id,
		"objectName":       nameOf(o.path),
		"parentURI":        parent,
		"domainURI":        "/cdmi_domains/",
		"capabilitiesURI":  "/cdmi_capabilities/" + capPath(o.objectType),
		"completionStatus": "Complete",
		"metadata":         o.metadata,
	}
	if p, ok := c.objects[parent]; ok && o.path != "/" {
		out["parentID"] = p.id
	}
	if o.path == "/" {
		delete(out, "parentURI")
		out["objectName"] = "/"
	}
	if strings.HasPrefix(o.path, "/cdmi_domains/") {
		out["domainURI"] = o.path
	}
	meta := map[string]any{}
	for k, v := range o.metadata {
		meta[k] = v
	}
	meta["cdmi_ctime"] = o.created.UTC().Format(time.RFC3339)
	switch o.objectType {
	case ctCDMIObject:
		meta["cdmi_size"] = strconv.Itoa(len(o.value))
		out["mimetype"] = o.mimetype
		v, enc := o.value, "utf-8"
		if o.base64 {
			v, enc = base64.StdEncoding.EncodeToString([]byte(o.value)), "base64"
		}
		out["valuetransferencoding"] = enc
		out["valuerange"] = "0-" + strconv.Itoa(max(len(o.value)-1, 0))
		out["value"] = v
	case ctCDMIContainer, ctCDMIDomain:
		var kids []string
		for k := range c.objects {
			if k != o.path && parentOf(k) == o.path && strings.HasPrefix(k, o.path) {
				kids = append(kids, nameOf(k))
			}
		}
		sort.Strings(kids)
		if kids == nil {
			kids = []string{}
		}
		out["children"] = kids
		out["childrenrange"] = ""
		if len(kids) > 0 {
			out["childrenrange"] = "0-" + strconv.Itoa(len(kids)-1)
		}
	case ctCDMIQueue:
		out["queueValues"] = ""
		if len(o.queue) > 0 {
			out["queueValues"] = "0-" + strconv.Itoa(len(o.queue)-1)
		}
		if strings.HasPrefix(query, "values:") {
			n, _ := strconv.Atoi(strings.TrimPrefix(query, "values:"))
			n = min(max(n, 0), len(o.queue))
			out["value"] = o.queue[:n]
		}
	}
	out["metadata"] = meta
	return out
}

func capPath(objectType string) string {
	switch objectType {
	case ctCDMIContainer:
		return "container/"
	case ctCDMIObject:
		return "dataobject/"
	case ctCDMIDomain:
		return "domain/"
	case ctCDMIQueue:
		return "queue/"
	}
	return ""
}

func (c *Cloud) capability(r *http.Request, sub, base string) (int, string, any) {
	caps, ok := cdmiCapabilities[sub]
	if !ok {
		return cdmiErr(http.StatusNotFound, "no capability object "+sub)
	}
	if a := r.Header.Get("Accept"); a != "" && !acceptsType(a, ctCDMICap) {
		return cdmiErr(http.StatusNotAcceptable, "capabilities are "+ctCDMICap)
	}
	out := map[string]any{
		"objectType":   ctCDMICap,
		"objectID":     "cap-" + strings.TrimSuffix(sub, "/"),
		"objectName":   "cdmi_capabilities/" + sub,
		"parentURI":    "/cdmi_capabilities/",
		"capabilities": caps,
	}
	if sub == "" {
		out["objectName"] = "cdmi_capabilities/"
		out["parentURI"] = "/"
		kids := []string{}
		for k := range cdmiCapabilities {
			if k != "" {
				kids = append(kids, k)
			}
		}
		sort.Strings(kids)
		out["children"] = kids
		out["childrenrange"] = "0-" + strconv.Itoa(len(kids)-1)
		c.mu.Lock()
		free := sub64(c.cfg.Capacity.StorageGB*bytesPerGiB, c.usedStorageBytes)
		c.mu.Unlock()
		caps2 := map[string]string{}
		for k, v := range caps {
			caps2[k] = v
		}
		caps2["cdmi_assignedsize"] = strconv.FormatUint(free, 10)
		out["capabilities"] = caps2
	}
	return http.StatusOK, ctCDMICap, out
}

func sub64(a, b uint64) uint64 { return sub(a, b) }

// cdmiMaxBody bounds a CDMI request body. It is larger than the CIMI
// API's bound (decodeBody) so the sandbox can hold a data object larger
// than the largest answer an adapter reads (4 MiB), which a client must
// then read by fields (selectFields).
const cdmiMaxBody = 64 << 20

// decodeBodyMax reads a JSON request body of at most limit bytes; a
// larger body is refused rather than cut short.
func decodeBodyMax(r *http.Request, v any, limit int64) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("body larger than %d bytes", limit)
	}
	return json.Unmarshal(data, v)
}

// selectFields narrows full, the whole JSON rendering of o (cdmiJSON), to
// the fields a read names (CDMI 1.1.1, 8.4 and 9.4: GET
// <object>?<fieldname>;<fieldname>;...). A field may carry an argument:
//
//   - value:<range> reads the bytes <range> of a data object's value
//     (inclusive, as in an HTTP byte range, cut at the value's end). A
//     byte range of a UTF-8 value need not be UTF-8, so the range is
//     transported base64-encoded whatever the object's encoding, and
//     valuerange and valuetransferencoding, when named too, describe
//     what was sent;
//   - children:<range> reads the children <range> of a container or
//     domain (cut at the last child), and childrenrange, when named too,
//     is the range sent; childrenrange alone is the whole range;
//   - metadata:<prefix> reads the metadata items whose names start with
//     <prefix> (several may be named).
//
// A field the object does not have is left out. A malformed range is an
// error (400).
func selectFields(o *cdmiObject, full map[string]any, query string) (map[string]any, error) {
	out := map[string]any{}
	var prefixes []string
	for _, f := range strings.Split(query, ";") {
		if f == "" {
			continue
		}
		name, arg, hasArg := strings.Cut(f, ":")
		if a, err := url.PathUnescape(arg); err == nil {
			arg = a
		}
		switch {
		case name == "value" && hasArg && o.objectType == ctCDMIObject:
			from, to, err := parseRange(arg)
			if err != nil {
				return nil, fmt.Errorf("value:%s: %v", arg, err)
			}
			part, sent := cut(len(o.value), from, to)
			out["value"] = base64.StdEncoding.EncodeToString([]byte(o.value[part[0]:part[1]]))
			full["valuerange"] = sent
			full["valuetransferencoding"] = "base64"
		case name == "children" && hasArg && (o.objectType == ctCDMIContainer || o.objectType == ctCDMIDomain):
			from, to, err := parseRange(arg)
			if err != nil {
				return nil, fmt.Errorf("children:%s: %v", arg, err)
			}
			kids, _ := full["children"].([]string)
			part, sent := cut(len(kids), from, to)
			out["children"] = kids[part[0]:part[1]]
			full["childrenrange"] = sent
		case name == "metadata" && hasArg:
			prefixes = append(prefixes, arg)
		default:
			if v, ok := full[name]; ok {
				out[name] = v
			}
		}
	}
	// Ranges change the fields that describe them, named before or
	// after the range.
	for _, k := range []string{"valuerange", "valuetransferencoding", "childrenrange"} {
		if _, ok := out[k]; ok {
			out[k] = full[k]
		}
	}
	if len(prefixes) > 0 {
		if _, all := out["metadata"]; !all {
			meta := map[string]any{}
			for k, v := range full["metadata"].(map[string]any) {
				for _, p := range prefixes {
					if strings.HasPrefix(k, p) {
						meta[k] = v
					}
				}
			}
			out["metadata"] = meta
		}
	}
	return out, nil
}

// parseRange parses a CDMI range, <first>-<last>, both inclusive.
func parseRange(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		from, err = strconv.Atoi(a)
	}
	if ok && err == nil {
		to, err = strconv.Atoi(b)
	}
	if !ok || err != nil || from < 0 || to < from || strings.HasPrefix(a, "+") || strings.HasPrefix(b, "+") {
		return 0, 0, fmt.Errorf("a range is <first>-<last>, 0 <= first <= last")
	}
	return from, to, nil
}

// cut returns the slice bounds of the range from-to (inclusive) within n
// items, cut at the last, and the range it holds as CDMI writes it ("" for
// none).
func cut(n, from, to int) ([2]int, string) {
	if from >= n {
		return [2]int{n, n}, ""
	}
	to = min(to, n-1)
	return [2]int{from, to + 1}, strconv.Itoa(from) + "-" + strconv.Itoa(to)
}
