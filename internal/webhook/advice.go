package webhook

import (
	"errors"
	"fmt"

	"github.com/tagpin/tagpin/internal/resolve"
)

// explain is how a resolution error reads in a warning, an event or a
// denial: what happened, and what the pod's owner or the cluster admin
// can do about it, in the webhook's vocabulary (pull secrets, the flags
// of tagpin webhook). It is the one place the webhook turns resolution
// errors into advice.
func explain(err error) string {
	var re *resolve.Error
	if !errors.As(err, &re) {
		return err.Error()
	}
	msg := fmt.Sprintf("%v: %s", re.Class, re.Detail)
	if a := webhookAdvice(re); a != "" {
		msg += "; " + a
	}
	return msg
}

func webhookAdvice(e *resolve.Error) string {
	reg := e.Registry
	switch e.Reason {
	case resolve.ReasonBlockedAddress:
		host := e.Refused
		if host == "" {
			host = reg
		}
		return fmt.Sprintf("if %s is a registry you trust, run tagpin webhook with --allow-registry %s", host, host)
	case resolve.ReasonRealmRefused:
		return fmt.Sprintf("%s sends clients to a token service tagpin does not contact; check the registry's token configuration", reg)
	case resolve.ReasonDowngrade:
		return fmt.Sprintf("%s redirected to plain HTTP; if plain HTTP is intended for %s, run tagpin webhook with --insecure-registry %s", reg, e.Refused, e.Refused)
	case resolve.ReasonCredentialHelperTimeout:
		return fmt.Sprintf("the credential helper tagpin webhook runs for %s did not answer within --resolve-timeout; check it, or give the pod an imagePullSecret for %s instead", reg, reg)
	case resolve.ReasonCredentialHelper:
		return fmt.Sprintf("check the docker config and credential helper of tagpin webhook for %s", reg)
	case resolve.ReasonManifestUnknown:
		return "check the image name and tag"
	case resolve.ReasonDeadline:
		return "the registry is slow or unreachable; if it is only slow, raise tagpin webhook's --resolve-timeout"
	case resolve.ReasonNetwork:
		return fmt.Sprintf("check that %s is reachable from tagpin webhook", reg)
	case resolve.ReasonHostDown:
		return "retry later"
	}
	switch {
	case errors.Is(e, resolve.ErrUnauthorized) && e.Status == 404:
		return "the registry's token service does not know this repository; check the image name"
	case errors.Is(e, resolve.ErrUnauthorized):
		return fmt.Sprintf("give the pod or its service account an imagePullSecret for %s", reg)
	}
	return ""
}

// unavailableReason is the short reason a registry was unavailable.
func unavailableReason(err error) string {
	var re *resolve.Error
	if errors.As(err, &re) && re.Detail != "" {
		return "registry unavailable (" + re.Detail + ")"
	}
	return "registry unavailable"
}
