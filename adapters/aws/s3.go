package aws

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/caddy-csb/caddy-csb/adapters/internal/dsmeta"
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// bucketName returns the bucket a DSaaS request uses: the ContainerObject's
// <objectID>, else the last segment of the DataObject's <parentURI>, else
// prefix + job id made a valid bucket name.
func (a *Adapter) bucketName(d *csbmsg.DSaaS, jobID string) (string, error) {
	name := objstore.ContainerName(d)
	if name == "" {
		name = a.jobBucket(jobID)
	}
	if !bucketRE.MatchString(name) || strings.Contains(name, "..") {
		return "", &contract.Error{Kind: contract.KindClient, Op: "bucket", Err: fmt.Errorf("bucket name %q: want 3 to 63 lower-case letters, digits, '.' or '-'", name)}
	}
	return name, nil
}

// jobBucket is the bucket of a job whose request names none: prefix +
// job id made a valid bucket name.
func (a *Adapter) jobBucket(jobID string) string {
	b := []byte(strings.ToLower(a.cfg.NamePrefix + jobID))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), "-.")
	if len(name) > 63 {
		name = strings.Trim(name[:63], "-.")
	}
	for len(name) < 3 {
		name += "0"
	}
	return name
}

func objectKey(o *csbmsg.DataObject) (string, error) {
	k := objstore.ObjectName(o)
	if len(k) > 1024 || !utf8.ValidString(k) {
		return "", &contract.Error{Kind: contract.KindClient, Op: "object", Err: fmt.Errorf("object key %q: want up to 1024 bytes of UTF-8", k)}
	}
	return k, nil
}

func unsupportedDSaaS(d *csbmsg.DSaaS) error {
	uns := func(format string, args ...any) error {
		return contract.Errorf(contract.KindUnsupported, "dsaas", format, args...)
	}
	switch {
	case d.QueueObject != nil:
		return uns("S3 has no queue objects (that is SQS)")
	case d.CapabilityObject != nil:
		return uns("S3 has no capability document")
	case d.ContainerObject != nil && d.ContainerObject.Metadata != nil && *d.ContainerObject.Metadata != "":
		return uns("S3 buckets carry no user metadata")
	}
	return objstore.Unsupported(d, "S3")
}

// s3Base is the S3 endpoint requests go to, path-style.
func (a *Adapter) s3Base() string {
	if a.cfg.S3Endpoint != "" {
		return strings.TrimRight(a.cfg.S3Endpoint, "/")
	}
	return "https://s3." + a.cfg.Region + ".amazonaws.com"
}

func (a *Adapter) bucketURL(bucket string) string {
	if a.cfg.S3Endpoint == "" && !a.cfg.PathStyle && !strings.Contains(bucket, ".") {
		return "https://" + bucket + ".s3." + a.cfg.Region + ".amazonaws.com"
	}
	return a.s3Base() + "/" + bucket
}

func (a *Adapter) objectURL(bucket, key string) string {
	return a.bucketURL(bucket) + "/" + objstore.EscapePath(key)
}

func (a *Adapter) provisionBucket(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	d := req.Want.DSaaS
	if err := unsupportedDSaaS(d); err != nil {
		return nil, err
	}
	bucket, err := a.bucketName(d, req.JobID)
	if err != nil {
		return nil, err
	}
	if err := objstore.OtherParent("provision", d, bucket, a.bucketURL(bucket)); err != nil {
		return nil, err
	}
	var key string
	var meta map[string]string
	if d.DataObject != nil {
		if key, err = objectKey(d.DataObject); err != nil {
			return nil, err
		}
		if meta, err = objstore.Metadata("object metadata", d.DataObject.Metadata); err != nil {
			return nil, err
		}
		if err := fitS3Meta(meta); err != nil {
			return nil, err
		}
	}
	c, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	// The bucket must be new: the job owns it and everything in it, and
	// the transparent proxy exposes it to the job's owner.
	err = statBucket(ctx, c, bucket)
	switch {
	case err == nil:
		return nil, bucketExists(bucket)
	case statusOf(err) == http.StatusForbidden:
		return nil, bucketExists(bucket) // someone else's
	case !isNotFound(err):
		return nil, nativeErr("head bucket", err)
	}
	in := &s3.CreateBucketInput{Bucket: &bucket}
	if a.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(a.cfg.Region)}
	}
	own := bucket == a.jobBucket(req.JobID)
	if _, err := c.CreateBucket(ctx, in); err != nil {
		switch code := errorCode(err); {
		case code == "BucketAlreadyOwnedByYou" && own:
			// The bucket named after the job (which Find claims too) is
			// the job's: this answers the SDK's retry of a CreateBucket
			// whose first answer was lost after S3 had made it.
		case code == "BucketAlreadyExists", code == "BucketAlreadyOwnedByYou":
			return nil, bucketExists(bucket)
		case own && mayHaveActed(err):
			// No answer (connection reset on every try, the deadline
			// after sending) or a 5xx: S3 may have made the job's
			// bucket. There, it is the job's, as above; when it cannot
			// be read, the error comes with the bucket so that the
			// broker's cleanup removes it (Remove of a bucket that
			// is not there is no error) before its plan moves on.
			// A bucket the request names is left alone: it cannot be
			// told from one another job made meanwhile.
			if ctx.Err() != nil || statBucket(ctx, c, bucket) != nil {
				return a.bucketResource(bucket), nativeErr("create bucket", err)
			}
		default:
			return nil, nativeErr("create bucket", err)
		}
	}
	res := a.bucketResource(bucket)
	// From here on a failure leaves the bucket behind: return the
	// resource with the error so the broker removes it.
	if d.DataObject != nil {
		res.Native[nativeObject] = key
		if err := a.putObject(ctx, c, bucket, key, d.DataObject, meta); err != nil {
			return res, err
		}
		res.URI = a.objectURL(bucket, key)
	}
	out, err := a.bucketStatus(ctx, res, d)
	if err != nil {
		return res, err
	}
	return out, nil
}

// bucketResource is the Resource of a bucket the job created.
func (a *Adapter) bucketResource(bucket string) *contract.Resource {
	return &contract.Resource{
		URI:      a.bucketURL(bucket),
		State:    contract.StateReady,
		Endpoint: a.s3Base(),
		Native: map[string]string{
			nativeKind:       kindBucket,
			nativeBucket:     bucket,
			nativeBucketMade: "true",
			nativeEndpoint:   a.s3Base(),
		},
	}
}

// statBucket checks that a bucket exists and is readable. It lists zero
// keys rather than sending HeadBucket: OpenStack Swift's s3api (2.30 on
// eventlet 0.33) answers HEAD on a bucket with a chunked 204 that carries
// a body, which can corrupt the next response read on the same
// connection.
func statBucket(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, MaxKeys: sdkaws.Int32(0)})
	return err
}

func bucketExists(b string) error {
	return &contract.Error{Kind: contract.KindClient, Op: "create bucket", Status: http.StatusConflict, Err: fmt.Errorf("bucket %q already exists", b)}
}

func (a *Adapter) putObject(ctx context.Context, c *s3.Client, bucket, key string, o *csbmsg.DataObject, meta map[string]string) error {
	value, mt := objstore.Content(o)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &bucket,
		Key:           &key,
		Body:          strings.NewReader(value),
		ContentLength: sdkaws.Int64(int64(len(value))),
		ContentType:   &mt,
		Metadata:      s3Meta(meta),
	})
	return nativeErr("put object", err)
}

func (a *Adapter) bucketStatus(ctx context.Context, res *contract.Resource, want *csbmsg.DSaaS) (*contract.Resource, error) {
	c, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	bucket := res.Native[nativeBucket]
	err = statBucket(ctx, c, bucket)
	if err != nil && !isNotFound(err) {
		return nil, nativeErr("head bucket", err)
	}
	out := objstore.Stated(res, err == nil)
	if out.State == contract.StateGone {
		return out, nil
	}
	g := &csbmsg.DSaaS{}
	bu := a.bucketURL(bucket)
	base := a.s3Base()
	g.ContainerObject = &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &bu, ObjectID: ptr(bucket), ParentURI: &base}, Status: ptr(objstore.Available)}
	if key := res.Native[nativeObject]; key != "" {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil && !isNotFound(err) {
			return nil, nativeErr("head object", err)
		}
		var head *objstore.Head
		if err == nil {
			head = &objstore.Head{Mimetype: h.ContentType, Meta: lower(h.Metadata)}
		}
		g.DataObject = objstore.DataObject(a.objectURL(bucket, key), key, bu, head)
	}
	if want != nil && want.DomainObject != nil {
		lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			return nil, nativeErr("list buckets", err)
		}
		dobj := &csbmsg.DomainObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &base}, Enabled: ptr(true), Children: ptr(strconv.Itoa(len(lb.Buckets)))}
		if lb.Owner != nil && lb.Owner.ID != nil {
			if id := model.NMToken(*lb.Owner.ID); id != nil {
				dobj.ObjectID = id
			}
		}
		g.DomainObject = dobj
	}
	out.Granted = csbmsg.ServiceRequest{DSaaS: g}
	return out, nil
}

// lower is the user metadata S3 answered, by lower-case key, with values
// S3 sent RFC 2047-encoded (see s3Meta) decoded.
func lower(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	var dec mime.WordDecoder
	for k, v := range m {
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		out[strings.ToLower(k)] = v
	}
	return out
}

// fitS3Meta refuses metadata that S3, or an S3-compatible store, would
// refuse in its encoded form (s3Meta): a value over dsmeta.MaxValue
// bytes once encoded (Swift's s3api keeps Swift's limit), or over S3's
// 2 KB in all.
func fitS3Meta(meta map[string]string) error {
	enc := s3Meta(meta)
	for k, v := range enc {
		if len(v) > dsmeta.MaxValue {
			return contract.Errorf(contract.KindUnsupported, "object metadata", "metadata: value of %q takes %d bytes once RFC 2047-encoded for S3, more than %d", k, len(v), dsmeta.MaxValue)
		}
	}
	return objstore.FitMetadata("object metadata", enc, objstore.S3MetadataLimit)
}

// s3Meta is user metadata as x-amz-meta-* headers carry it. Those carry
// US-ASCII: S3 answers a value with other characters RFC 2047-encoded,
// and S3-compatible stores such as Swift's s3api read raw UTF-8 as
// Latin-1. A value with non-ASCII characters is therefore sent as RFC
// 2047 encoded words, which every store keeps as they are and lower
// decodes.
func s3Meta(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = mime.BEncoding.Encode("UTF-8", v)
	}
	return out
}

func (a *Adapter) updateBucket(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	d := req.Want.DSaaS // not nil: see model.Route.Update
	if err := unsupportedDSaaS(d); err != nil {
		return nil, err
	}
	bucket := res.Native[nativeBucket]
	if err := objstore.OtherParent("update", d, bucket, a.bucketURL(bucket)); err != nil {
		return nil, err
	}
	c, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	out := res.Clone()
	if d.ContainerObject != nil && d.ContainerObject.ObjectID != nil && *d.ContainerObject.ObjectID != bucket {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: errors.New("an S3 bucket cannot be renamed")}
	}
	if o := d.DataObject; o != nil {
		key := res.Native[nativeObject]
		if o.ObjectID != nil || key == "" {
			if key, err = objectKey(o); err != nil {
				return nil, err
			}
		}
		meta, err := objstore.Metadata("object metadata", o.Metadata)
		if err != nil {
			return nil, err
		}
		if err := fitS3Meta(meta); err != nil {
			return nil, err
		}
		if o.Value != nil || key != res.Native[nativeObject] {
			// Keep what the update does not name. A HEAD that failed
			// other than with "not found" (no such object yet) stops the
			// update: PutObject would drop what it could not read.
			if o.Metadata == nil || o.Mimetype == nil {
				h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
				switch {
				case err == nil:
					if o.Metadata == nil {
						meta = lower(h.Metadata)
					}
					if o.Mimetype == nil && h.ContentType != nil {
						cp := *o
						cp.Mimetype = h.ContentType
						o = &cp
					}
				case !isNotFound(err):
					return nil, nativeErr("head object", err)
				}
			}
			if err := a.putObject(ctx, c, bucket, key, o, meta); err != nil {
				return nil, err
			}
			out.Native[nativeObject] = key
			out.URI = a.objectURL(bucket, key)
		} else if o.Metadata != nil || o.Mimetype != nil {
			// S3 changes metadata by copying the object onto itself.
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				return nil, nativeErr("head object", err)
			}
			if o.Metadata == nil {
				meta = lower(h.Metadata)
			}
			ct := h.ContentType
			if o.Mimetype != nil {
				ct = o.Mimetype
			}
			_, err = c.CopyObject(ctx, &s3.CopyObjectInput{
				Bucket:            &bucket,
				Key:               &key,
				CopySource:        sdkaws.String(url.PathEscape(bucket) + "/" + objstore.EscapePath(key)),
				MetadataDirective: s3types.MetadataDirectiveReplace,
				Metadata:          s3Meta(meta),
				ContentType:       ct,
			})
			if err != nil {
				return nil, nativeErr("copy object", err)
			}
		}
	}
	return a.bucketStatus(ctx, out, d)
}

// removeBucket deletes every object of a bucket the job created (the
// owner may have added some through the proxy) and the bucket; for a
// bucket it did not create, only the job's object.
func (a *Adapter) removeBucket(ctx context.Context, res *contract.Resource) error {
	n := res.Native
	return objstore.Remove(ctx, n[nativeBucket], n[nativeBucketMade] == "true", n[nativeObject], func(bucket string) (objstore.Container, error) {
		c, err := a.s3Client(ctx)
		return s3Bucket{c, bucket}, err
	})
}

// s3Bucket is a bucket as objstore.Remove sees it.
type s3Bucket struct {
	c    *s3.Client
	name string
}

func (b s3Bucket) DeleteObject(ctx context.Context, key string) error {
	if _, err := b.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.name, Key: &key}); err != nil && !isNotFound(err) {
		return nativeErr("delete object", err)
	}
	return nil
}

func (b s3Bucket) EachObject(ctx context.Context, fn func(key string) error) (bool, error) {
	p := s3.NewListObjectsV2Paginator(b.c, &s3.ListObjectsV2Input{Bucket: &b.name})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if isNotFound(err) {
				return true, nil
			}
			return false, nativeErr("list objects", err)
		}
		for _, o := range page.Contents {
			if err := fn(sdkaws.ToString(o.Key)); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

func (b s3Bucket) Delete(ctx context.Context) (bool, error) {
	_, err := b.c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &b.name})
	if err == nil || isNotFound(err) {
		return false, nil
	}
	return errorCode(err) == "BucketNotEmpty", nativeErr("delete bucket", err)
}

func (a *Adapter) discoverS3(ctx context.Context) (csbmsg.Service, error) {
	c, err := a.s3Client(ctx)
	if err != nil {
		return csbmsg.Service{}, err
	}
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		return csbmsg.Service{}, nativeErr("list buckets", err)
	}
	return objstore.Service("s3", a.s3Base()), nil
}

// grantedBucketStatus reads a bucket back against what was granted.
func (a *Adapter) grantedBucketStatus(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	return a.bucketStatus(ctx, res, res.Granted.DSaaS)
}
