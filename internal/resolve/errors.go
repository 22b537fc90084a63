package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagpin/tagpin/internal/imageref"
)

// Error classes. Every error returned by Resolve wraps exactly one of them.
var (
	// ErrUnavailable: the registry could not answer (network error,
	// timeout, 5xx, 429). Only this class may fall back to a last-known
	// digest.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrNotFound: the repository, tag or platform does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the registry refused the credentials (or their
	// absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalidReference: the text is not an image reference.
	ErrInvalidReference = imageref.ErrInvalid
	// ErrBlocked: the registry's address is loopback, link-local, private
	// or unspecified and the registry is not on the allow list.
	ErrBlocked = errors.New("address not allowed")
)

// Error describes a failed resolution of one reference.
type Error struct {
	// Ref is the reference as written.
	Ref string
	// Registry is the host that was asked.
	Registry string
	// Class is one of the Err* sentinels.
	Class error
	// Detail says what happened, Hint what to do about it.
	Detail, Hint string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("resolving %s: %v", e.Ref, e.Class)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Unwrap lets errors.Is match the class and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Err}
}

// blockedError is returned by the dialer for a forbidden address.
type blockedError struct {
	addr, why string
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("refusing to connect to %s (%s address)", e.addr, e.why)
}

// classify turns what went wrong while resolving ref at h into an *Error
// with a class, a detail and a hint.
func (r *Resolver) classify(ref imageref.Reference, h *host, err error) error {
	e := &Error{Ref: ref.Original, Registry: h.name, Err: err, Detail: err.Error()}
	var (
		se *statusError
		be *blockedError
		pe *platformError
		te *transport.Error
	)
	switch {
	case errors.Is(err, errHostDown):
		e.Class, e.Detail = ErrUnavailable, fmt.Sprintf("%s failed recently and a request checking whether it is back is under way", h.name)
		e.Hint = "retry later"
	case errors.As(err, &be):
		e.Class, e.Detail = ErrBlocked, be.Error()
		e.Hint = fmt.Sprintf("if %s is a registry you trust, allow it with --allow-registry %s", h.name, h.name)
	case errors.As(err, &pe):
		e.Class = ErrNotFound
		e.Hint = "pick one of the available platforms or resolve without --platform"
	case errors.Is(err, errNoCredential):
		e.Class = ErrUnauthorized
		e.Hint = fmt.Sprintf("log in with `docker login %s` or pass --username and --password-stdin", h.name)
	case errors.As(err, &se):
		e.Detail = fmt.Sprintf("%s answered %s", h.name, se)
		switch {
		case se.code == http.StatusNotFound:
			e.Class = ErrNotFound
			e.Detail = fmt.Sprintf("%s has no manifest %s in repository %s", h.name, target(ref), ref.Path)
			e.Hint = "check the repository name and tag"
		case se.code == http.StatusUnauthorized || se.code == http.StatusForbidden:
			e.Class = ErrUnauthorized
			e.Hint = fmt.Sprintf("check your credentials for %s (docker login %s, or --username and --password-stdin) and that they may pull %s", h.name, h.name, ref.Path)
		case se.transient():
			e.Class = ErrUnavailable
			if se.retryAfter > 0 {
				e.Detail += fmt.Sprintf(" (Retry-After %s)", se.retryAfter)
			}
			e.Hint = "the registry is failing or rate limiting; retry later"
		default:
			e.Class = ErrNotFound
			e.Hint = "the registry rejected the request; check the reference"
		}
	case errors.As(err, &te):
		e.Detail = fmt.Sprintf("token service: %v", te)
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			e.Class = ErrUnauthorized
			e.Hint = fmt.Sprintf("check your credentials for %s (docker login %s, or --username and --password-stdin)", h.name, h.name)
		case http.StatusNotFound:
			e.Class = ErrUnauthorized
			e.Hint = "the registry's token service does not know this repository"
		default:
			e.Class = ErrUnavailable
			e.Hint = "the registry's token service is failing; retry later"
		}
	case strings.Contains(err.Error(), "invalid realm"):
		e.Class = ErrBlocked
		e.Hint = fmt.Sprintf("the registry %s announced a token service tagpin will not contact", h.name)
	case errors.Is(err, context.DeadlineExceeded):
		e.Class, e.Detail = ErrUnavailable, fmt.Sprintf("no answer from %s within the deadline", h.name)
		e.Hint = "the registry is slow or unreachable; retry later or raise --timeout"
	case errors.Is(err, context.Canceled):
		e.Class, e.Detail = ErrUnavailable, "canceled"
	default:
		e.Class = ErrUnavailable
		e.Hint = fmt.Sprintf("check that %s is reachable", h.name)
	}
	return e
}

func target(ref imageref.Reference) string {
	if ref.Digest != "" {
		return ref.Digest.String()
	}
	return ref.Tag
}
