package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/queue/sqstest"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// sqsQueue is the sqs backend on the queue at url through endpoint, with
// short timeouts, closed when the test ends; logs holds what it logged.
func sqsQueue(t *testing.T, endpoint, url string, change func(*queue.SQSConfig)) (*queue.SQS, *observer.ObservedLogs) {
	t.Helper()
	cfg := queue.SQSConfig{QueueURL: url, Endpoint: endpoint, WaitTime: time.Second, VisibilityTimeout: 30 * time.Second}
	if change != nil {
		change(&cfg)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	q, err := queue.NewSQS(cfg, zap.New(core))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })
	return q, logs
}

// newRunID makes a well-formed run id (the runs module owns the prefix).
func newRunID() string { return ids.New("run") }

func nextWithin(q queue.Queue, timeout time.Duration) (queue.Delivery, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return q.Next(ctx)
}

// TestSQSDeliversUntilAcknowledged: an enqueued id is received, and once
// acknowledged it is gone from the queue.
func TestSQSDeliversUntilAcknowledged(t *testing.T) {
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, "runs", nil)
	q, _ := sqsQueue(t, srv.Endpoint, url, nil)
	ctx := context.Background()
	id := newRunID()
	require.NoError(t, q.Enqueue(ctx, id))
	require.Equal(t, []string{`{"run_id":"` + id + `"}`}, srv.Bodies(t, url))

	d, err := nextWithin(q, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, id, d.RunID)
	require.NoError(t, d.Ack(ctx))
	n, err := q.Approximate(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "acknowledged: deleted")
	_, err = nextWithin(q, 1500*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded, "nothing is delivered again")
}

// TestSQSDeletesPoisonMessages: bodies that name no run are deleted and
// logged, never delivered and never back in the queue; the good message
// behind them is delivered.
func TestSQSDeletesPoisonMessages(t *testing.T) {
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, "runs", nil)
	q, logs := sqsQueue(t, srv.Endpoint, url, nil)
	for _, body := range []string{"not json", `{"run_id":"usr_01hzz"}`, `{"run_id":""}`, `[1,2]`} {
		srv.Send(t, url, body)
	}
	good := newRunID()
	srv.Send(t, url, `{"run_id":"`+good+`"}`)

	d, err := nextWithin(q, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, good, d.RunID)
	require.NoError(t, d.Ack(context.Background()))
	require.Zero(t, srv.Count(t, url), "no poison message waits to come back")
	dropped := logs.FilterMessage("deleted a queue message that is not a run id").All()
	require.Len(t, dropped, 4)
	require.Equal(t, zapcore.ErrorLevel, dropped[0].Level)
}

// TestSQSExtendsVisibilityWhileClaiming holds a delivery for longer than
// the visibility timeout: another consumer never receives it meanwhile,
// because the visibility is extended until the delivery ends.
func TestSQSExtendsVisibilityWhileClaiming(t *testing.T) {
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, "runs", nil)
	short := func(c *queue.SQSConfig) { c.VisibilityTimeout = 3 * time.Second }
	a, _ := sqsQueue(t, srv.Endpoint, url, short)
	b, _ := sqsQueue(t, srv.Endpoint, url, short)
	id := newRunID()
	require.NoError(t, a.Enqueue(context.Background(), id))

	d, err := nextWithin(a, 30*time.Second)
	require.NoError(t, err)
	_, err = nextWithin(b, 7*time.Second) // more than twice the visibility timeout
	require.ErrorIs(t, err, context.DeadlineExceeded, "the message stays hidden while the claim lasts")
	require.NoError(t, d.Ack(context.Background()))
	require.Zero(t, srv.Count(t, url))
}

// TestSQSNackDeliversAgain: a released delivery (its claim failed) comes
// back, to any consumer, after the release delay.
func TestSQSNackDeliversAgain(t *testing.T) {
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, "runs", nil)
	release := func(c *queue.SQSConfig) { c.ReleaseDelay = time.Second }
	a, _ := sqsQueue(t, srv.Endpoint, url, release)
	b, _ := sqsQueue(t, srv.Endpoint, url, release)
	id := newRunID()
	require.NoError(t, a.Enqueue(context.Background(), id))
	d, err := nextWithin(a, 30*time.Second)
	require.NoError(t, err)
	require.NoError(t, d.Nack(context.Background()))
	d, err = nextWithin(b, 10*time.Second) // well within the 30s visibility timeout
	require.NoError(t, err)
	require.Equal(t, id, d.RunID)
	require.NoError(t, d.Ack(context.Background()))
}

// TestSQSUnreachable: with SQS away, Enqueue and the readiness probe fail
// as an outage within a bounded time, Next fails too (its caller backs
// off), and all of it works again once SQS is back.
func TestSQSUnreachable(t *testing.T) {
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, "runs", nil)
	proxy := pgtest.NewProxy(t, srv.Endpoint)
	q, _ := sqsQueue(t, proxy.URL(srv.Endpoint), url, nil)
	ctx := context.Background()
	require.NoError(t, q.Ping(ctx))

	proxy.Down()
	began := time.Now()
	err := q.Enqueue(ctx, newRunID())
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	require.Less(t, time.Since(began), 10*time.Second)
	require.ErrorIs(t, q.Ping(ctx), derrors.ErrUnavailable)
	_, err = nextWithin(q, 30*time.Second)
	require.ErrorIs(t, err, derrors.ErrUnavailable)

	proxy.Up()
	require.NoError(t, q.Ping(ctx))
	id := newRunID()
	require.NoError(t, q.Enqueue(ctx, id))
	d, err := nextWithin(q, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, id, d.RunID)
	require.NoError(t, d.Ack(ctx))
}

// TestSQSCloseEndsALongPoll: Close returns a waiting Next at once.
func TestSQSCloseEndsALongPoll(t *testing.T) {
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, "runs", nil)
	q, _ := sqsQueue(t, srv.Endpoint, url, func(c *queue.SQSConfig) { c.WaitTime = 20 * time.Second })
	errc := make(chan error, 1)
	go func() { _, err := nextWithin(q, time.Minute); errc <- err }()
	require.NoError(t, q.Ping(context.Background())) // the client is built; the poll is under way or about to be
	began := time.Now()
	require.NoError(t, q.Close())
	err := <-errc
	require.True(t, errors.Is(err, queue.ErrClosed), "%v", err)
	require.Less(t, time.Since(began), 10*time.Second)
	require.ErrorIs(t, q.Enqueue(context.Background(), newRunID()), queue.ErrClosed)
}
