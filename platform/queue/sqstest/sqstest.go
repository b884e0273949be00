// Package sqstest runs a real SQS-protocol server for tests: fauxqs (an npm
// package speaking SQS's JSON protocol, installed by .ci/run with
// `npm install --prefix /opt/fauxqs fauxqs@1.9.2`), started by the test on a
// free loopback port and stopped when it ends. Where fauxqs is not installed
// the test is skipped locally and fails under CI (platform/testenv).
package sqstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/testenv"
)

// DefaultBinary is where .ci/run installs fauxqs; SLIPWAY_FAUXQS overrides it.
const DefaultBinary = "/opt/fauxqs/node_modules/.bin/fauxqs"

// Server is a running fauxqs.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:port.
	Endpoint string
	Client   *sqs.Client
}

// binary finds fauxqs: $SLIPWAY_FAUXQS, DefaultBinary, or fauxqs on PATH.
func binary() (string, error) {
	if p := os.Getenv("SLIPWAY_FAUXQS"); p != "" {
		return p, nil
	}
	if _, err := os.Stat(DefaultBinary); err == nil {
		return DefaultBinary, nil
	}
	return exec.LookPath("fauxqs")
}

// Start starts fauxqs and returns it once it answers. It sets the AWS
// credential variables (fauxqs checks no signature, but the SDK signs), so
// the test must not be parallel.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		testenv.Unavailable(t, "fauxqs (SQS protocol server) not installed: npm install --prefix /opt/fauxqs fauxqs@1.9.2")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Unavailable(t, "node, which runs fauxqs, is not installed")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var last string
	// A free port may be taken between asking and binding: try again.
	for range 3 {
		port := freePort(t)
		srv, out, ok := launch(t, bin, port)
		if ok {
			return srv
		}
		last = out
	}
	t.Fatalf("fauxqs did not start:\n%s", last)
	return nil
}

// launch runs fauxqs on port and waits, for a bounded time, until it
// answers /health or exits.
func launch(t testing.TB, bin string, port int) (*Server, string, bool) {
	t.Helper()
	cmd := exec.Command(bin)
	// fauxqs listens on every interface (it has no setting for that); the
	// tests reach it on loopback only. Its queue URLs name
	// sqs.<region>.localhost:port, a name only: the client sends to the
	// endpoint and fauxqs finds the queue by the whole URL.
	cmd.Env = append(os.Environ(), fmt.Sprintf("FAUXQS_PORT=%d", port), "FAUXQS_LOGGER=false")
	out := &testenv.Output{Max: 64 << 10} // fauxqs logs every request
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, strings.TrimSpace(out.String()), false
		default:
		}
		res, err := hc.Get(endpoint + "/health")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Cleanup(stop)
				return &Server{Endpoint: endpoint, Client: client(t, endpoint)}, "", true
			}
		}
		select {
		case <-exited:
			return nil, strings.TrimSpace(out.String()), false
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	return nil, "no answer within 30s:\n" + strings.TrimSpace(out.String()), false
}

func client(t testing.TB, endpoint string) *sqs.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
	require.NoError(t, err)
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// CreateQueue creates a queue with attributes (VisibilityTimeout,
// RedrivePolicy …) and returns its URL.
func (s *Server) CreateQueue(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	out, err := s.Client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	require.NoError(t, err)
	return aws.ToString(out.QueueUrl)
}

// Send puts a raw body on the queue at url, as another producer could.
func (s *Server) Send(t testing.TB, url, body string) {
	t.Helper()
	_, err := s.Client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body})
	require.NoError(t, err)
}

// Bodies returns the bodies of the messages waiting on the queue at url,
// and leaves them waiting (visible again at once).
func (s *Server) Bodies(t testing.TB, url string) []string {
	t.Helper()
	ctx := context.Background()
	var bodies []string
	var handles []string
	for {
		out, err := s.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			handles = append(handles, aws.ToString(m.ReceiptHandle))
		}
	}
	for _, h := range handles {
		_, err := s.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url,
			ReceiptHandle: aws.String(h), VisibilityTimeout: 0})
		require.NoError(t, err)
	}
	return bodies
}

// Count returns the messages of the queue at url: waiting, in flight, delayed.
func (s *Server) Count(t testing.TB, url string) int {
	t.Helper()
	out, err := s.Client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{"All"}})
	require.NoError(t, err)
	n := 0
	for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		var v int
		_, err := fmt.Sscan(out.Attributes[k], &v)
		require.NoError(t, err, "%s=%q", k, out.Attributes[k])
		n += v
	}
	return n
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
