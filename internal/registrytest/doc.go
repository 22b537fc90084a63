// Package registrytest runs registries for tests: go-containerregistry's
// in-process registry behind a middleware that counts requests, injects
// faults (hang, 503, 429 with Retry-After, a missing Docker-Content-Digest
// header, added latency) and can demand bearer-token auth from a counting
// token service; and the real CNCF Distribution server as a child process.
//
// Everything listens on loopback.
package registrytest
