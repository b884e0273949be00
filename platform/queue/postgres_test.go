package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// pgQueue is a postgres queue on its own connection pool, as in its own
// process, closed when the test ends. listens receives a value each time
// its listener listens.
func pgQueue(t *testing.T, dsn string, poll time.Duration) (q *queue.Postgres, listens chan struct{}) {
	t.Helper()
	q = queue.NewPostgres(pgtest.Open(t, dsn), poll, zaptest.NewLogger(t))
	listens = make(chan struct{}, 16)
	queue.OnListen(q, func() { listens <- struct{}{} })
	t.Cleanup(func() { require.NoError(t, q.Close()) })
	return q, listens
}

// next calls Next with a timeout and returns its error.
func next(q queue.Queue, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d, err := q.Next(ctx)
	if err == nil && d.RunID != "" {
		panic("a postgres wake-up carries no run id")
	}
	return err
}

// ready consumes the wake-up of the first listen, so the test starts from
// a consumer with nothing pending.
func ready(t *testing.T, q *queue.Postgres, listens chan struct{}) {
	t.Helper()
	require.NoError(t, next(q, 30*time.Second), "the first listen wakes the consumer")
	<-listens
}

// TestPostgresWakesOnNotifyFromAnotherProcess: a worker waiting in Next is
// woken by a run enqueued through another process's queue (NOTIFY), not by
// a poll (an hour here).
func TestPostgresWakesOnNotifyFromAnotherProcess(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	consumer, listens := pgQueue(t, dsn, time.Hour)
	producer, _ := pgQueue(t, dsn, time.Hour)
	ready(t, consumer, listens)
	require.ErrorIs(t, next(consumer, 200*time.Millisecond), context.DeadlineExceeded, "nothing queued, nothing wakes")

	woken := make(chan error, 1)
	go func() { woken <- next(consumer, 30*time.Second) }()
	require.NoError(t, producer.Enqueue(context.Background(), "run_01hzz"))
	require.NoError(t, <-woken, "the NOTIFY wakes the waiting consumer")
}

// TestPostgresPollsWhenNothingIsNotified: the safety net wakes an idle
// consumer every poll interval.
func TestPostgresPollsWhenNothingIsNotified(t *testing.T) {
	consumer, listens := pgQueue(t, pgtest.NewEmptyDB(t), 100*time.Millisecond)
	ready(t, consumer, listens)
	for range 3 {
		require.NoError(t, next(consumer, 10*time.Second), "the poll wakes the consumer")
	}
}

// TestPostgresWakesAfterReconnect: when the listener's connection dies
// (its backend terminated), the listener listens again and wakes the
// consumer, since notifications sent meanwhile were lost; then NOTIFY
// works as before.
func TestPostgresWakesAfterReconnect(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	consumer, listens := pgQueue(t, dsn, time.Hour)
	producer, _ := pgQueue(t, dsn, time.Hour)
	ready(t, consumer, listens)

	admin := pgtest.Open(t, dsn)
	var killed int
	require.NoError(t, admin.NewRaw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(context.Background(), &killed))
	require.Equal(t, 1, killed, "one listener connection")
	select {
	case <-listens:
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not listen again")
	}
	require.NoError(t, next(consumer, 30*time.Second), "listening again wakes the consumer")

	woken := make(chan error, 1)
	go func() { woken <- next(consumer, 30*time.Second) }()
	require.NoError(t, producer.Enqueue(context.Background(), "run_01hzz"))
	require.NoError(t, <-woken)
}

// TestPostgresPollsWhileTheDatabaseIsAway: with the database unreachable
// the consumer is still woken (at each retry of the listener), so it keeps
// looking in the table, and the listener listens again once it is back.
func TestPostgresPollsWhileTheDatabaseIsAway(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	proxy := pgtest.NewProxy(t, dsn)
	consumer, listens := pgQueue(t, proxy.URL(dsn), 200*time.Millisecond)
	ready(t, consumer, listens)

	proxy.Down()
	for range 3 {
		require.NoError(t, next(consumer, 10*time.Second), "woken while the database is away")
	}
	proxy.Up()
	select {
	case <-listens:
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not listen again")
	}
}

func TestPostgresClose(t *testing.T) {
	consumer, listens := pgQueue(t, pgtest.NewEmptyDB(t), time.Hour)
	ready(t, consumer, listens)
	errc := make(chan error, 1)
	go func() { errc <- next(consumer, time.Minute) }()
	require.NoError(t, consumer.Close())
	require.NoError(t, consumer.Close(), "idempotent")
	require.ErrorIs(t, <-errc, queue.ErrClosed)
	require.ErrorIs(t, consumer.Enqueue(context.Background(), "run_01hzz"), queue.ErrClosed)
	require.ErrorIs(t, next(consumer, time.Second), queue.ErrClosed)
}
