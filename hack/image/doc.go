// Command image builds tagpin's container image without a container
// engine: an OCI image index for linux/amd64 and linux/arm64 whose images
// are two layers on an empty base (no base image is pulled):
//
//   - the files a static Go binary needs: the build machine's CA bundle
//     (/etc/ssl/certs/ca-certificates.crt), /etc/passwd and /etc/group with
//     root and "nonroot" (uid and gid 65532, as in distroless),
//     /etc/nsswitch.conf, /home/nonroot and /tmp (mode 1777);
//   - /usr/local/bin/tagpin, built with CGO_ENABLED=0, -trimpath, no build
//     ID and the version stamped in.
//
// The entrypoint is /usr/local/bin/tagpin and the user 65532. The build is
// reproducible: the same commit built with the same Go toolchain and CA
// bundle gives the same index digest, because every timestamp is
// SOURCE_DATE_EPOCH (else the commit time), tar entries are sorted with
// fixed owners and modes, and the binary holds no build ID or path.
//
// Run it from the module root (make image does):
//
//	go run ./hack/image --layout bin/image
//	go run ./hack/image --repo 127.0.0.1:5000/tagpin --tag latest
//
// It prints one line per tag written, REPO:TAG@sha256:… (or
// oci:DIR:TAG@sha256:… for a layout), and its progress on stderr.
package main
