package runs_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/queue/sqstest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// onSQS points the run queue at the SQS queue url through endpoint.
func onSQS(endpoint, url string) apptest.Option {
	return func(s *settings.Settings) {
		s.Queue.Backend = settings.QueueSQS
		s.Queue.SQSQueueURL = url
		s.Queue.SQSEndpoint = endpoint
		s.Queue.SQSWaitTime = time.Second
		s.Auth.TokenSecret = "shared-secret-of-two-instances-32b!"
	}
}

// TestRunsOnSQS runs an API-only instance and a worker instance on one
// database and one SQS queue (fauxqs, a real SQS-protocol server; the
// queue has a redrive policy to a dead-letter queue, as the README asks).
// A run accepted by the API instance is worked by the worker; a message
// naming a run that does not exist is deleted and logged, not retried.
// Then SQS goes away: runs are still accepted (the record is the truth),
// /readyz reports the queue failing without failing readiness, and once
// SQS answers again the worker's sweep enqueues the run that was never
// sent, and it runs.
func TestRunsOnSQS(t *testing.T) {
	rt, image := apptest.RunImage(t)
	srv := sqstest.Start(t)
	srv.CreateQueue(t, "runs-dead", nil)
	url := srv.CreateQueue(t, "runs", map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:runs-dead","maxReceiveCount":"5"}`})
	proxy := pgtest.NewProxy(t, srv.Endpoint)
	dsn := pgtest.NewDB(t)
	objects, _ := apptest.S3(t)
	sqs := onSQS(proxy.URL(srv.Endpoint), url)
	worker := startWith(t, apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript),
		apptest.PostgresAt(dsn), objects, sqs), rt, image)
	api := apptest.Start(t, apptest.PostgresAt(dsn), objects, sqs, func(s *settings.Settings) {
		s.Runs.Execute = false
		s.Runs.AllowFileURLs = true
		s.Docker.Host = "unix:///nonexistent/docker.sock"
	})
	u := api.SignUp()
	repo := worker.repo(t, u, map[string]string{"a.txt": "a\n"})

	r := worker.create(t, u, repo.ID, map[string]any{"prompt": "through sqs"})
	res := api.Post("/v1/repositories/"+repo.ID+"/runs", u.Token, map[string]any{"prompt": "from the api"})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	id := res.JSON(t)["id"].(string)
	require.Equal(t, "succeeded", worker.wait(t, u, id, terminal).Status)
	require.Equal(t, "succeeded", worker.wait(t, u, r.ID, terminal).Status)

	ghost := ids.New(runs.IDPrefix)
	srv.Send(t, url, `{"run_id":"`+ghost+`"}`)
	require.Eventually(t, func() bool {
		return worker.Logs().FilterMessage("dropped a queue message for a run that does not exist").
			FilterField(zap.String("run_id", ghost)).Len() == 1
	}, 30*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return srv.Count(t, url) == 0 }, 10*time.Second, 20*time.Millisecond,
		"the message of a run that does not exist is deleted")

	proxy.Down()
	res = api.Post("/v1/repositories/"+repo.ID+"/runs", u.Token, map[string]any{"prompt": "while sqs is away"})
	require.Equal(t, http.StatusAccepted, res.Status, "runs are accepted without SQS: %s", res.Body)
	lost := res.JSON(t)["id"].(string)
	ready := worker.Get("/readyz", "")
	require.Equal(t, http.StatusOK, ready.Status, "%s", ready.Body)
	body := ready.JSON(t)
	require.Equal(t, "degraded", body["status"])
	require.Equal(t, "failing", body["checks"].(map[string]any)["queue"])
	require.Equal(t, "queued", api.GetRun(u.Token, lost).Status)

	proxy.Up()
	require.Equal(t, "succeeded", worker.wait(t, u, lost, terminal).Status, "the sweep sent it once SQS answered")
	require.Equal(t, 1, worker.Logs().FilterMessage("enqueued again queued runs the queue had lost").Len())
	ready = worker.Get("/readyz", "")
	require.Equal(t, "ok", ready.JSON(t)["checks"].(map[string]any)["queue"])
}
