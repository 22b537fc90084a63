package registrytest

import (
	"io"
	"log"
)

func nullLogger() *log.Logger { return log.New(io.Discard, "", 0) }
