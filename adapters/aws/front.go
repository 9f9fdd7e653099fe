package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/caddy-csb/caddy-csb/adapters/internal/front"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Payload hash values of SigV4.
const (
	unsignedPayload        = "UNSIGNED-PAYLOAD"
	unsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

var hexHashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// presignParams are the query parameters of a presigned URL: a consumer's
// signature is never forwarded.
var presignParams = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "AWSAccessKeyId", "Signature", "Expires"}

// Front prepares a consumer request for the job's native API (see
// contract.Fronter) and signs it with the provider's credentials (SigV4).
// A bucket job's route behaves as a path-style S3 endpoint in which only
// the job's bucket exists; an instance job's route accepts the EC2 Query
// API actions of frontedEC2Actions on the job's instance only.
func (a *Adapter) Front(ctx context.Context, r *http.Request, res *contract.Resource) (*url.URL, error) {
	var base, service, payload string
	switch res.Native[nativeKind] {
	case kindBucket:
		var err error
		if payload, err = checkS3Request(r, res.Native[nativeBucket]); err != nil {
			return nil, err
		}
		base, service = res.Native[nativeEndpoint], "s3"
		front.NoReuseAfterContainerHEAD(r)
	case kindInstance:
		body, err := checkEC2Request(r, res.Native[nativeInstanceID])
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
		base, service = a.cfg.EC2Endpoint, "ec2"
		if base == "" {
			base = "https://ec2." + a.cfg.Region + ".amazonaws.com"
		}
	default:
		return nil, foreign(res)
	}
	upstream, err := front.Rebase(r, base)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	for _, p := range presignParams {
		q.Del(p)
	}
	r.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		r.Header.Del(h)
	}
	if service == "s3" {
		r.Header.Set("X-Amz-Content-Sha256", payload)
	}
	creds, err := a.credentials(ctx)
	if err != nil {
		return nil, err
	}
	// Sign a copy that carries only the headers the signature should
	// cover (host, content type and MD5, x-amz-*): the reverse proxy may
	// add or change others (forwarding headers, Accept-Encoding) after
	// signing.
	sr := &http.Request{Method: r.Method, URL: r.URL, Host: r.Host, Header: http.Header{}}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") || lk == "content-type" || lk == "content-md5" {
			sr.Header[k] = v
		}
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		// S3 signs the path as sent; other services escape it again.
		o.DisableURIPathEscaping = service == "s3"
	})
	if err := signer.SignHTTP(ctx, creds, sr, payload, service, a.cfg.Region, a.clock.Now()); err != nil {
		return nil, &contract.Error{Kind: contract.KindServer, Op: "sign", Err: err}
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := sr.Header.Get(h); v != "" {
			r.Header.Set(h, v)
		}
	}
	return upstream, nil
}

// s3ConfigSubresources change who may reach a bucket or where its data
// goes; through the broker they may be read, not changed.
var s3ConfigSubresources = []string{
	"acl", "policy", "cors", "website", "lifecycle", "replication", "notification", "encryption",
	"ownershipControls", "publicAccessBlock", "logging", "object-lock", "retention", "legal-hold",
	"accelerate", "inventory", "metrics", "analytics", "intelligent-tiering", "requestPayment", "versioning",
}

// checkS3Request allows path-style requests on the job's bucket and its
// objects, refuses what would open it to others or reach other buckets,
// and returns the payload hash to sign with.
func checkS3Request(r *http.Request, bucket string) (string, error) {
	if bucket == "" {
		return "", contract.NotInJob(r.URL.Path)
	}
	first, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if first != bucket {
		return "", contract.NotInJob("/" + first)
	}
	q := r.URL.Query()
	// S3 ignores query parameters that name no subresource (the SDKs
	// add x-id=DeleteBucket themselves): a DELETE on the bucket deletes
	// the bucket unless it names one. Of those, the configuration
	// subresources are refused below; tagging is the bucket's own.
	if rest == "" && r.Method == http.MethodDelete && !q.Has("tagging") {
		return "", contract.Refused("the job's bucket is deleted by removing the job through the broker")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		for _, sub := range s3ConfigSubresources {
			if q.Has(sub) {
				return "", contract.Refused("changing the bucket's %s is not allowed through the broker", sub)
			}
		}
	}
	for k := range r.Header {
		lk := strings.ToLower(k)
		if lk == "x-amz-acl" || strings.HasPrefix(lk, "x-amz-grant-") {
			return "", contract.Refused("header %s is not allowed through the broker", k)
		}
	}
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" {
		if dec, err := url.PathUnescape(src); err == nil {
			src = dec
		}
		b, _, _ := strings.Cut(strings.TrimPrefix(src, "/"), "/")
		if b != bucket {
			return "", contract.Refused("x-amz-copy-source must name an object of bucket %q", bucket)
		}
	}
	switch h := r.Header.Get("X-Amz-Content-Sha256"); {
	case h == "", strings.HasPrefix(h, "STREAMING-AWS4-"):
		if h != "" {
			return "", &contract.Error{Kind: contract.KindClient, Op: "front", Status: http.StatusBadRequest,
				Err: fmt.Errorf("x-amz-content-sha256 %s: chunk signatures cannot be re-signed; send UNSIGNED-PAYLOAD or a payload hash", h)}
		}
		return unsignedPayload, nil
	case h == unsignedPayload, h == unsignedPayloadTrailer, hexHashRE.MatchString(h):
		return h, nil
	default:
		return "", &contract.Error{Kind: contract.KindClient, Op: "front", Status: http.StatusBadRequest, Err: fmt.Errorf("x-amz-content-sha256 %q not understood", h)}
	}
}

// frontedEC2Actions are the EC2 Query API actions a job's owner may send
// through the proxy, each naming the job's instance.
var frontedEC2Actions = map[string]bool{
	"DescribeInstances": true, "DescribeInstanceStatus": true, "StartInstances": true,
	"StopInstances": true, "RebootInstances": true, "GetConsoleOutput": true,
}

// checkEC2Request allows the actions of frontedEC2Actions on the job's
// instance only, and returns the body to sign (restored in r).
func checkEC2Request(r *http.Request, id string) ([]byte, error) {
	if r.URL.Path != "/" && r.URL.Path != "" {
		return nil, contract.NotInJob(r.URL.Path)
	}
	params := r.URL.Query()
	var body []byte
	if r.Body != nil && r.Method == http.MethodPost {
		var err error
		if body, err = front.ReadAction(r, "request"); err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, contract.Refused("request body is not a Query API form")
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
		contract.ResetBody(r, body)
	}
	// Query API parameters are unique. A repeated one (in the body, or
	// in both the query string and the body) could be read one way here
	// and the other way by EC2: the Action checked here need not be the
	// one EC2 runs.
	for k, v := range params {
		if len(v) > 1 {
			return nil, contract.Refused("parameter %s is given %d times", k, len(v))
		}
	}
	if !frontedEC2Actions[params.Get("Action")] {
		return nil, contract.Refused("EC2 action %q goes through the broker", params.Get("Action"))
	}
	ids := 0
	for k, v := range params {
		switch {
		case strings.HasPrefix(k, "InstanceId"):
			for _, x := range v {
				if x != id {
					return nil, contract.NotInJob("instance " + x)
				}
				ids++
			}
		case strings.HasPrefix(k, "Filter."), k == "MaxResults", k == "NextToken":
			return nil, contract.Refused("%s would reach other instances", k)
		}
	}
	if ids == 0 {
		return nil, contract.Refused("name the job's instance (InstanceId)")
	}
	return body, nil
}

var _ contract.Fronter = (*Adapter)(nil)
