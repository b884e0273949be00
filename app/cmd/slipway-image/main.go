// Command slipway-image builds the container image of Slipway behind
// `go tool task image`, with the local Docker engine and no registry: a
// static binary (CGO_ENABLED=0, -trimpath), the host's CA certificates, a
// minimal /etc/passwd and /etc/group naming the non-root user 65532, and an
// empty data dir that user owns, on top of nothing (FROM scratch). Nothing
// is pulled: the build context is one root filesystem tar, unpacked by ADD
// with the ownership it records.
//
//	go run ./app/cmd/slipway-image [-tag slipway:latest]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("slipway-image", flag.ExitOnError)
	o := Options{}
	fs.StringVar(&o.Tag, "tag", "slipway:latest", "the image's name and tag")
	fs.StringVar(&o.DockerHost, "docker-host", "", "Docker endpoint (default: $DOCKER_HOST, else the local socket)")
	fs.StringVar(&o.CACerts, "ca-certs", DefaultCACerts, "CA bundle copied into the image")
	_ = fs.Parse(os.Args[1:])
	o.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	img, err := Build(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slipway-image:", err)
		os.Exit(1)
	}
	fmt.Printf("built %s (%s): %.1f MB, binary %.1f MB, in %s\n", o.Tag, img.ID,
		float64(img.Size)/1e6, float64(img.BinarySize)/1e6, time.Since(began).Round(100*time.Millisecond))
}
