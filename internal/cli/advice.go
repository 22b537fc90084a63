package cli

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/tagpin/tagpin/internal/resolve"
)

// advice says what to do about a failed resolution, in the CLI's
// vocabulary (its flags, docker login), or "" when there is nothing to
// add. It is the one place the CLI turns resolution errors into advice.
func advice(err error) string {
	var e *resolve.Error
	if !errors.As(err, &e) {
		return ""
	}
	reg := e.Registry
	switch e.Reason {
	case resolve.ReasonHostDown:
		return "retry later"
	case resolve.ReasonBlockedAddress:
		host := allowName(e.Refused, reg)
		return fmt.Sprintf("if %s is a registry you trust, allow it with --allow-registry %s", host, host)
	case resolve.ReasonRealmRefused:
		return fmt.Sprintf("%s sends clients to a token service tagpin does not contact; check the registry's token configuration (HTTPS, not on a loopback, private or link-local address)", reg)
	case resolve.ReasonDowngrade:
		return fmt.Sprintf("%s redirected to plain HTTP; if plain HTTP is intended for %s, pass --insecure-registry %s", reg, e.Refused, e.Refused)
	case resolve.ReasonCredentialHelperTimeout:
		return fmt.Sprintf("the credential helper for %s (credHelpers or credsStore in the docker config) did not answer in time; check it, or raise --timeout if it is only slow", reg)
	case resolve.ReasonCredentialHelper:
		return fmt.Sprintf("check the docker config and its credential helper for %s (docker login %s)", reg, reg)
	case resolve.ReasonPlatformMissing:
		if len(e.Platforms) == 0 {
			return "resolve without --platform"
		}
		return fmt.Sprintf("pick one of the available platforms (--platform %s) or resolve without --platform", strings.Join(e.Platforms, ", "))
	case resolve.ReasonManifestUnknown:
		return "check the repository name and tag"
	case resolve.ReasonBlobUnknown:
		return "the registry has the manifest but lost a blob it names (garbage collection, or an incomplete push); push the image again"
	case resolve.ReasonDeadline:
		return "the registry is slow or unreachable; retry later or raise --timeout"
	case resolve.ReasonNetwork:
		return fmt.Sprintf("check that %s is reachable", reg)
	case resolve.ReasonCanceled:
		return ""
	}
	switch {
	case errors.Is(err, resolve.ErrUnauthorized) && e.Anonymous:
		return fmt.Sprintf("log in with `docker login %s`, or pass --auth-registry %s --username USER --password-stdin", reg, reg)
	case errors.Is(err, resolve.ErrUnauthorized) && e.Status == 404:
		return "the registry's token service does not know this repository; check the repository name"
	case errors.Is(err, resolve.ErrUnauthorized):
		return fmt.Sprintf("check your credentials for %s (docker login %s, or --auth-registry %s --username USER --password-stdin) and that they may pull %s", reg, reg, reg, e.Ref)
	case errors.Is(err, resolve.ErrUnavailable) && e.Reason == resolve.ReasonTokenService:
		return "the registry's token service is failing; retry later"
	case errors.Is(err, resolve.ErrUnavailable) && e.RetryAfter > 0:
		return fmt.Sprintf("the registry is rate limiting or failing and asked to wait %s; retry later", e.RetryAfter)
	case errors.Is(err, resolve.ErrUnavailable):
		return "the registry is failing or rate limiting; retry later"
	case errors.Is(err, resolve.ErrNotFound):
		return "the registry rejected the request; check the reference"
	}
	return ""
}

// allowName is what to pass to --allow-registry for the refused
// host:port: the registry's name when that is what was refused.
func allowName(refused, registry string) string {
	if refused == "" || refused == registry {
		return registry
	}
	host, port, err := net.SplitHostPort(refused)
	if err == nil && port == "443" && !strings.Contains(registry, ":") && host == registry {
		return registry
	}
	return refused
}

// advisedError is a failed resolution with the CLI's advice.
type advisedError struct {
	err    error
	advice string
}

func (e *advisedError) Error() string { return e.err.Error() + "; " + e.advice }
func (e *advisedError) Unwrap() error { return e.err }

// withAdvice returns err with what to do about it appended to its
// message, when there is advice to give.
func withAdvice(err error) error {
	if a := advice(err); a != "" {
		return &advisedError{err: err, advice: a}
	}
	return err
}
