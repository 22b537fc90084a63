// Command tagpin keeps Kubernetes workloads on immutable image digests
// while people keep writing tags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tagpin/tagpin/internal/cli"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Main(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}
