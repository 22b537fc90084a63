// Package resolve turns image tags into digests against OCI registries.
//
// A Resolver sends one HEAD per resolution in steady state: connections,
// registry challenges and bearer tokens are reused per (registry,
// repository, credential), concurrent resolutions of the same reference and
// credential share one upstream request, and every call returns by its
// context deadline whatever the registry does. Failures are classified
// (ErrUnavailable, ErrNotFound, ErrUnauthorized, ErrInvalidReference,
// ErrBlocked) so callers can decide what may fall back to a last-known
// digest, and carry data (a Reason, the refused address, the HTTP status)
// from which callers say what to do in their own terms; messages name no
// flags. Requests per registry host are bounded, credentials follow no
// redirect away from their origin, and credential helpers are waited for
// no longer than the call's deadline. Outbound connections to loopback, link-local, private and
// unspecified addresses are refused at dial time unless the registry is
// explicitly allowed.
//
// The package imports nothing from Kubernetes.
package resolve
