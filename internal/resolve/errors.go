package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

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
	// ErrBlocked: tagpin refused to talk to an address or URL: a
	// loopback, link-local, private or unspecified address of a
	// registry that is not on the allow list, a token service it will
	// not contact, or a redirect from HTTPS to plain HTTP.
	ErrBlocked = errors.New("address not allowed")
)

// Reason says why a resolution failed, more precisely than its class, so
// that callers can say what to do about it.
type Reason string

// Reasons. Each comes with the Class it belongs to.
const (
	// ReasonNetwork (unavailable): connecting to the registry failed or
	// the connection broke.
	ReasonNetwork Reason = "network"
	// ReasonDeadline (unavailable): no answer within the deadline.
	ReasonDeadline Reason = "deadline"
	// ReasonCanceled (unavailable): the caller canceled the call.
	ReasonCanceled Reason = "canceled"
	// ReasonHostDown (unavailable): the registry failed recently and a
	// request checking whether it is back is under way or was just made.
	ReasonHostDown Reason = "host-down"
	// ReasonStatus: the registry answered an HTTP status tagpin did not
	// expect (Status, and RetryAfter when it asked to wait). Unavailable
	// for 408, 429 and 5xx, not found otherwise.
	ReasonStatus Reason = "status"
	// ReasonManifestUnknown (not found): the registry has no such
	// repository, tag or digest.
	ReasonManifestUnknown Reason = "manifest-unknown"
	// ReasonBlobUnknown (not found): the registry has no such blob (a
	// layer or config a manifest names) in the repository.
	ReasonBlobUnknown Reason = "blob-unknown"
	// ReasonPlatformMissing (not found): the image exists, not for the
	// platform asked for; Platforms lists those it has.
	ReasonPlatformMissing Reason = "platform-missing"
	// ReasonDenied (unauthorized): the registry answered 401 or 403
	// (Status).
	ReasonDenied Reason = "denied"
	// ReasonNoCredential (unauthorized): the registry asked for
	// credentials and none were found for it.
	ReasonNoCredential Reason = "no-credential"
	// ReasonTokenService: the registry's token service answered Status:
	// unauthorized for 401, 403 and 404, unavailable otherwise.
	ReasonTokenService Reason = "token-service"
	// ReasonCredentialHelper (unavailable): looking up the registry's
	// credential (the docker config and its credential helpers) failed.
	ReasonCredentialHelper Reason = "credential-helper"
	// ReasonCredentialHelperTimeout (unavailable): looking up the
	// registry's credential did not finish within the deadline.
	ReasonCredentialHelperTimeout Reason = "credential-helper-timeout"
	// ReasonBlockedAddress (blocked): Refused is the host:port whose
	// address may not be dialed; it is not on the allow list.
	ReasonBlockedAddress Reason = "blocked-address"
	// ReasonRealmRefused (blocked): the registry announced a token
	// service (Refused, its URL) that tagpin does not contact.
	ReasonRealmRefused Reason = "realm-refused"
	// ReasonDowngrade (blocked): an HTTPS request was redirected to
	// plain HTTP at Refused (host:port), which is not an insecure
	// registry.
	ReasonDowngrade Reason = "downgrade-refused"
)

// Error describes a failed resolution of one reference. Its message says
// what happened; what to do about it depends on who asked, so it is left
// to the caller, which has the data for it here.
type Error struct {
	// Ref is the reference as written.
	Ref string
	// Registry is the host that was asked.
	Registry string
	// Class is one of the Err* sentinels.
	Class error
	// Reason says why, more precisely.
	Reason Reason
	// Detail says what happened, in one line.
	Detail string
	// Refused is the host:port (or the URL, for a token service) that
	// tagpin refused to contact, for class ErrBlocked. It may differ
	// from Registry when the registry redirected elsewhere.
	Refused string
	// Status is the HTTP status the registry or its token service
	// answered, if that is what failed.
	Status int
	// RetryAfter is how long the registry asked to wait, if it did.
	RetryAfter time.Duration
	// Anonymous is true when no credential was sent: for class
	// ErrUnauthorized, logging in may help.
	Anonymous bool
	// Platforms lists the platforms the image has, for
	// ReasonPlatformMissing.
	Platforms []string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("resolving %s: %v", e.Ref, e.Class)
	if e.Detail != "" {
		msg += ": " + e.Detail
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
	return fmt.Sprintf("refusing to connect to %s: the address is %s", e.addr, e.why)
}

// realmError is a token realm tagpin does not contact.
type realmError struct {
	realm, why string
}

func (e *realmError) Error() string {
	return fmt.Sprintf("refusing the token service %s: %s", e.realm, e.why)
}

// downgradeError is a redirect from HTTPS to plain HTTP.
type downgradeError struct {
	from, to string // host:port
}

func (e *downgradeError) Error() string {
	return fmt.Sprintf("refusing a redirect from https://%s to plain HTTP at %s", e.from, e.to)
}

// credentialError is a failed credential lookup.
type credentialError struct {
	registry string
	call     bool // in the keychain passed to ResolveWith
	err      error
}

func (e *credentialError) Error() string {
	from := "the docker config and its credential helper"
	if e.call {
		from = "the pull secrets"
	}
	if errors.Is(e.err, context.DeadlineExceeded) {
		return fmt.Sprintf("looking up the credential for %s in %s did not finish within the deadline", e.registry, from)
	}
	return fmt.Sprintf("looking up the credential for %s in %s: %v", e.registry, from, e.err)
}

func (e *credentialError) Unwrap() error { return e.err }

// classify turns what went wrong while resolving ref at h into an *Error
// with a class, a reason and the data that goes with it.
// cred is the credential used, nil when none was found.
func (r *Resolver) classify(ref imageref.Reference, h *host, cred *credential, err error) error {
	e := &Error{Ref: ref.Original, Registry: h.name, Err: err, Detail: err.Error(), Anonymous: cred == nil || cred.anonymous()}
	var (
		se *statusError
		be *blockedError
		re *realmError
		de *downgradeError
		ce *credentialError
		pe *platformError
		te *transport.Error
	)
	switch {
	case errors.Is(err, errHostDown):
		e.Class, e.Reason = ErrUnavailable, ReasonHostDown
		e.Detail = fmt.Sprintf("%s failed recently and a request checking whether it is back is under way", h.name)
	case errors.As(err, &be):
		e.Class, e.Reason, e.Refused, e.Detail = ErrBlocked, ReasonBlockedAddress, be.addr, be.Error()
	case errors.As(err, &re):
		e.Class, e.Reason, e.Refused, e.Detail = ErrBlocked, ReasonRealmRefused, re.realm, re.Error()
	case errors.As(err, &de):
		e.Class, e.Reason, e.Refused, e.Detail = ErrBlocked, ReasonDowngrade, de.to, de.Error()
	case errors.As(err, &ce):
		e.Class, e.Reason, e.Detail = ErrUnavailable, ReasonCredentialHelper, ce.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			e.Reason = ReasonCredentialHelperTimeout
		}
	case errors.As(err, &pe):
		e.Class, e.Reason, e.Platforms = ErrNotFound, ReasonPlatformMissing, pe.have
	case errors.Is(err, errNoCredential):
		e.Class, e.Reason = ErrUnauthorized, ReasonNoCredential
		e.Detail = fmt.Sprintf("%s requires credentials and none were found for it", h.name)
	case errors.As(err, &se):
		e.Status, e.RetryAfter = se.code, se.retryAfter
		e.Detail = fmt.Sprintf("%s answered %s", h.name, se)
		switch {
		case se.code == http.StatusNotFound:
			e.Class, e.Reason = ErrNotFound, ReasonManifestUnknown
			e.Detail = fmt.Sprintf("%s has no manifest %s in repository %s", h.name, target(ref), ref.Path)
		case se.code == http.StatusUnauthorized || se.code == http.StatusForbidden:
			e.Class, e.Reason = ErrUnauthorized, ReasonDenied
		case se.transient():
			e.Class, e.Reason = ErrUnavailable, ReasonStatus
			if se.retryAfter > 0 {
				e.Detail += fmt.Sprintf(" (Retry-After %s)", se.retryAfter)
			}
		default:
			e.Class, e.Reason = ErrNotFound, ReasonStatus
		}
	case errors.As(err, &te):
		e.Reason, e.Status = ReasonTokenService, te.StatusCode
		e.Detail = fmt.Sprintf("the token service of %s answered %d %s", h.name, te.StatusCode, http.StatusText(te.StatusCode))
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			e.Class = ErrUnauthorized
		default:
			e.Class = ErrUnavailable
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Class, e.Reason = ErrUnavailable, ReasonDeadline
		e.Detail = fmt.Sprintf("no answer from %s within the deadline", h.name)
	case errors.Is(err, context.Canceled):
		e.Class, e.Reason, e.Detail = ErrUnavailable, ReasonCanceled, "canceled"
	default:
		e.Class, e.Reason = ErrUnavailable, ReasonNetwork
	}
	return e
}

func target(ref imageref.Reference) string {
	if ref.Digest != "" {
		return ref.Digest.String()
	}
	return ref.Tag
}
