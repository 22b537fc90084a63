// Package image proves tagpin's container image (make image, hack/image)
// is real: built into the Distribution registry, pulled back by digest,
// its platforms, configuration and files checked, and the binary taken
// out of its layer run. It also proves the build reproducible: two
// builds of the same work tree give the same index digest. The tests are
// part of make test and skipped under go test -short.
package image
