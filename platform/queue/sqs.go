package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/awsclient"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
)

// sqsService names SQS in derrors.Unavailable.
const sqsService = "sqs"

// Defaults of SQSConfig.
const (
	DefaultSQSWaitTime          = 20 * time.Second
	DefaultSQSVisibilityTimeout = 30 * time.Second
	DefaultSQSConnectTimeout    = 2 * time.Second
	// DefaultSQSReleaseDelay is how long a released message stays hidden
	// before it is delivered again: a claim that failed (the records store
	// down) is retried, but not at once.
	DefaultSQSReleaseDelay = 5 * time.Second
	// sqsCallTimeout bounds the calls other than the long poll.
	sqsCallTimeout = 10 * time.Second
)

// SQSConfig says how to reach the queue. Only QueueURL is required.
type SQSConfig struct {
	// QueueURL is the queue's URL as SQS gives it.
	QueueURL string
	// Endpoint is the URL of an SQS-compatible server instead of AWS's.
	Endpoint string
	// Region of the queue. Empty means the one in an AWS QueueURL
	// (sqs.<region>.amazonaws.com), else the default chain, else
	// "us-east-1" when Endpoint is set.
	Region string
	// WaitTime is the long poll of one receive, 1s to 20s.
	WaitTime time.Duration
	// VisibilityTimeout hides a received message from other workers while
	// its run is being claimed; it is extended every third of itself until
	// the delivery is acknowledged or released.
	VisibilityTimeout time.Duration
	// ReleaseDelay hides a released message before its next delivery.
	ReleaseDelay time.Duration
	// ConnectTimeout bounds the TCP connect and TLS handshake of one attempt.
	ConnectTimeout time.Duration
}

func (c SQSConfig) withDefaults() SQSConfig {
	if c.WaitTime == 0 {
		c.WaitTime = DefaultSQSWaitTime
	}
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = DefaultSQSVisibilityTimeout
	}
	if c.ReleaseDelay == 0 {
		c.ReleaseDelay = DefaultSQSReleaseDelay
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultSQSConnectTimeout
	}
	if c.Region == "" {
		c.Region = regionOf(c.QueueURL)
	}
	if c.Region == "" && c.Endpoint != "" {
		c.Region = "us-east-1"
	}
	return c
}

// regionOf returns the region of an AWS queue URL, "" for any other.
func regionOf(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" && parts[2] == "amazonaws" {
		return parts[1]
	}
	return ""
}

// SQS is the sqs backend. A message's body is {"run_id": "run_…"}. Next
// receives one message at a time, and only when its caller has room for a
// run, so a worker never holds messages it cannot work; it long-polls. A
// received message stays hidden while the delivery is open (its visibility
// extended), and is deleted by Ack. A message that does not parse as a run
// id is deleted and logged, never delivered, so no poison message comes
// back forever; one that keeps failing to be deleted is moved to the
// dead-letter queue by the queue's redrive policy.
type SQS struct {
	cfg SQSConfig
	log *zap.Logger

	initMu sync.Mutex
	client *sqs.Client

	closeCtx context.Context // ends at Close: long polls and extensions stop
	closeFn  context.CancelFunc
	open     sync.WaitGroup // deliveries' extenders
}

var (
	_ Queue   = (*SQS)(nil)
	_ Counter = (*SQS)(nil)
)

// NewSQS returns the sqs backend. It does no I/O: the client is built, and
// the network first used, by the first call.
func NewSQS(cfg SQSConfig, log *zap.Logger) (*SQS, error) {
	u, err := url.Parse(cfg.QueueURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not a queue URL", cfg.QueueURL)
	}
	cfg = cfg.withDefaults()
	switch {
	case cfg.WaitTime < time.Second || cfg.WaitTime > 20*time.Second:
		return nil, fmt.Errorf("wait time %s is outside 1s–20s", cfg.WaitTime)
	case cfg.VisibilityTimeout < 3*time.Second || cfg.VisibilityTimeout > 12*time.Hour:
		return nil, fmt.Errorf("visibility timeout %s is outside 3s–12h", cfg.VisibilityTimeout)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &SQS{cfg: cfg, log: log, closeCtx: ctx, closeFn: cancel}, nil
}

// api returns the client, building it on first use.
func (q *SQS) api(ctx context.Context) (*sqs.Client, error) {
	if q.closeCtx.Err() != nil {
		return nil, ErrClosed
	}
	q.initMu.Lock()
	defer q.initMu.Unlock()
	if q.client != nil {
		return q.client, nil
	}
	c := q.cfg
	awsCfg, err := awsclient.Load(ctx, awsclient.Options{
		Region:         c.Region,
		ConnectTimeout: c.ConnectTimeout,
		// A receive answers after at most its wait time.
		ResponseTimeout:     c.WaitTime + sqsCallTimeout,
		MaxIdleConnsPerHost: 16,
		MaxAttempts:         3,
		MaxBackoff:          time.Second,
	})
	if err != nil {
		return nil, err
	}
	q.client = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return q.client, nil
}

// message is a queue message's body.
type message struct {
	RunID string `json:"run_id"`
}

// parseBody returns the run id of a message body, and false for a body
// that is not one (a poison message). The id must be well formed; whether
// it names a run is for the consumer's claim to find out (the runs module
// owns the prefix), which drops the message of a run that does not exist.
func parseBody(body string) (string, bool) {
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return "", false
	}
	if _, ok := ids.Split(m.RunID); !ok {
		return "", false
	}
	return m.RunID, true
}

// Enqueue implements Queue.
func (q *SQS) Enqueue(ctx context.Context, runID string) (err error) {
	defer derrors.Wrap(&err, "queue.SQS.Enqueue(%q)", runID)
	api, err := q.api(ctx)
	if err != nil {
		return err
	}
	body, err := json.Marshal(message{RunID: runID})
	if err != nil {
		return err
	}
	_, err = api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.cfg.QueueURL, MessageBody: aws.String(string(body))})
	return q.translate(err)
}

// Next implements Queue: it long-polls until one message arrives.
func (q *SQS) Next(ctx context.Context) (Delivery, error) {
	api, err := q.api(ctx)
	if err != nil {
		return Delivery{}, err
	}
	for {
		rctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(q.closeCtx, cancel)
		out, err := api.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{
			QueueUrl:            &q.cfg.QueueURL,
			MaxNumberOfMessages: 1,
			WaitTimeSeconds:     int32(q.cfg.WaitTime / time.Second),
			VisibilityTimeout:   seconds(q.cfg.VisibilityTimeout),
		})
		stop()
		cancel()
		switch {
		case q.closeCtx.Err() != nil:
			return Delivery{}, ErrClosed
		case ctx.Err() != nil:
			return Delivery{}, ctx.Err()
		case err != nil:
			return Delivery{}, fmt.Errorf("queue.SQS.Next: %w", q.translate(err))
		case len(out.Messages) == 0:
			continue
		}
		m := out.Messages[0]
		body := aws.ToString(m.Body)
		runID, ok := parseBody(body)
		if !ok {
			q.dropPoison(aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle), body)
			continue
		}
		return q.deliver(runID, aws.ToString(m.ReceiptHandle)), nil
	}
}

// dropPoison deletes a message that names no run, and logs it.
func (q *SQS) dropPoison(id, handle, body string) {
	ctx, cancel := context.WithTimeout(context.Background(), sqsCallTimeout)
	defer cancel()
	err := q.delete(ctx, handle)
	q.log.Error("deleted a queue message that is not a run id", zap.String("message_id", id),
		zap.String("body", clip(body, 200)), zap.NamedError("delete_error", err))
}

// deliver opens a delivery: its message's visibility is extended until
// Ack deletes it or Nack releases it.
func (q *SQS) deliver(runID, handle string) Delivery {
	ctx, stop := context.WithCancel(q.closeCtx)
	extended := make(chan struct{})
	q.open.Add(1)
	go func() {
		defer q.open.Done()
		defer close(extended)
		q.extend(ctx, runID, handle)
	}()
	var once sync.Once
	end := func() { once.Do(func() { stop(); <-extended }) }
	return Delivery{
		RunID: runID,
		Ack: func(ctx context.Context) error {
			end()
			return q.delete(ctx, handle)
		},
		Nack: func(ctx context.Context) error {
			end()
			return q.changeVisibility(ctx, handle, q.cfg.ReleaseDelay)
		},
	}
}

// extend keeps a received message hidden until ctx ends, renewing its
// visibility every third of the timeout.
func (q *SQS) extend(ctx context.Context, runID, handle string) {
	t := time.NewTicker(q.cfg.VisibilityTimeout / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, sqsCallTimeout)
		err := q.changeVisibility(cctx, handle, q.cfg.VisibilityTimeout)
		cancel()
		if err != nil && ctx.Err() == nil {
			q.log.Warn("extending a queue message's visibility failed; another worker may receive it too",
				zap.String("run_id", runID), zap.Error(err))
			return
		}
	}
}

func (q *SQS) delete(ctx context.Context, handle string) (err error) {
	defer derrors.Wrap(&err, "queue.SQS.delete")
	api, err := q.api(ctx)
	if err != nil {
		return err
	}
	_, err = api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.cfg.QueueURL, ReceiptHandle: &handle})
	return q.translate(err)
}

func (q *SQS) changeVisibility(ctx context.Context, handle string, d time.Duration) (err error) {
	defer derrors.Wrap(&err, "queue.SQS.changeVisibility")
	api, err := q.api(ctx)
	if err != nil {
		return err
	}
	_, err = api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &q.cfg.QueueURL, ReceiptHandle: &handle, VisibilityTimeout: seconds(d)})
	return q.translate(err)
}

// Approximate implements Counter: the messages waiting, in flight and
// delayed, as SQS counts them (eventually consistent).
func (q *SQS) Approximate(ctx context.Context) (_ int, err error) {
	defer derrors.Wrap(&err, "queue.SQS.Approximate")
	api, err := q.api(ctx)
	if err != nil {
		return 0, err
	}
	names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &q.cfg.QueueURL, AttributeNames: names})
	if err != nil {
		return 0, q.translate(err)
	}
	total := 0
	for _, name := range names {
		n, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			return 0, fmt.Errorf("attribute %s: %w", name, err)
		}
		total += n
	}
	return total, nil
}

// Ping reports whether the queue answers: the readiness check "queue".
func (q *SQS) Ping(ctx context.Context) error {
	_, err := q.Approximate(ctx)
	return err
}

// Close implements Queue: it ends long polls and extensions; idempotent.
func (q *SQS) Close() error {
	q.closeFn()
	q.open.Wait()
	return nil
}

// translate marks failures to reach SQS as an outage.
func (q *SQS) translate(err error) error {
	if err == nil {
		return nil
	}
	if q.closeCtx.Err() != nil {
		return ErrClosed
	}
	var missing *types.QueueDoesNotExist
	if errors.As(err, &missing) {
		return fmt.Errorf("queue %s does not exist: %w", q.cfg.QueueURL, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return derrors.Unavailable(sqsService, err)
}

// seconds converts a duration to SQS's whole seconds, rounding up.
func seconds(d time.Duration) int32 {
	return int32((d + time.Second - 1) / time.Second)
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
