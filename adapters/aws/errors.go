package aws

import (
	"errors"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/caddy-csb/caddy-csb/adapters/internal/nativeerr"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// errorKinds maps AWS error codes to kinds where the HTTP status alone
// would say less (a 400 that means "no capacity", a 400 that means "not
// found").
var errorKinds = map[string]contract.ErrorKind{
	"NoSuchBucket":                 contract.KindNotFound,
	"NoSuchKey":                    contract.KindNotFound,
	"NotFound":                     contract.KindNotFound,
	"InvalidInstanceID.NotFound":   contract.KindNotFound,
	"InvalidInstanceID.Malformed":  contract.KindClient,
	"InsufficientInstanceCapacity": contract.KindCapacity,
	"InstanceLimitExceeded":        contract.KindCapacity,
	"VcpuLimitExceeded":            contract.KindCapacity,
	"TooManyBuckets":               contract.KindCapacity,
	"RequestTimeout":               contract.KindTimeout,
}

// nativeErr classifies a failed SDK call.
func nativeErr(op string, err error) error {
	if nativeerr.Settled(err) {
		return err
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	kind := nativeerr.Kind(status, err)
	var api smithy.APIError
	if errors.As(err, &api) {
		if k, ok := errorKinds[api.ErrorCode()]; ok {
			kind = k
		}
	}
	// The SDK's error carries the provider's message and the URL it
	// called: scrubbed (nativeerr.Scrub) before it becomes a job's
	// reason, since an S3-compatible endpoint may quote the request.
	return &contract.Error{Kind: kind, Op: op, Status: status, Err: nativeerr.Scrub(err)}
}

// errorCode returns the AWS error code of err, or "".
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// isNotFound reports whether err says the thing does not exist.
func isNotFound(err error) bool {
	return errorKinds[errorCode(err)] == contract.KindNotFound || nativeerr.Kind(statusOf(err), err) == contract.KindNotFound
}

func statusOf(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
