// Package awsclient loads the AWS configuration the platform's AWS clients
// (objects.S3, queue.SQS) share: bounded connects and response waits, a
// bounded standard retryer without the client-side retry quota, and the
// default chain for whatever is not given.
package awsclient

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Options are what a client sets on the configuration it loads.
type Options struct {
	// Region, when not empty, overrides the default chain's.
	Region string
	// ConnectTimeout bounds the TCP connect and the TLS handshake of one attempt.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers after a request
	// was sent.
	ResponseTimeout time.Duration
	// MaxIdleConnsPerHost is the transport's pool of idle connections.
	MaxIdleConnsPerHost int
	// MaxAttempts is how many times one request is tried; MaxBackoff caps
	// the wait between attempts.
	MaxAttempts int
	MaxBackoff  time.Duration
	// Transport, when set, is given the transport in use once it is built
	// (to close its idle connections later).
	Transport func(*http.Transport)
	// Load are further options of the loader (credentials, checksums).
	Load []func(*config.LoadOptions) error
}

// Load returns the configuration o describes, the rest from the default
// chain (environment, shared files, instance or task role). It reads the
// shared files, so clients call it on first use, not at construction.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	// A BuildableClient, because the config loader adjusts its transport
	// (AWS_CA_BUNDLE, for one) and refuses a plain http.Client.
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.ConnectTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = o.ConnectTimeout
			tr.ResponseHeaderTimeout = o.ResponseTimeout
			tr.MaxIdleConnsPerHost = o.MaxIdleConnsPerHost
			if o.Transport != nil {
				o.Transport(tr)
			}
		})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = o.MaxBackoff
				// The client-side retry quota would turn an outage into
				// "quota exceeded" errors without trying; a service's own
				// throttling (S3's 503 SlowDown) is backed off from anyway.
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, o.Load...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return cfg, nil
}
