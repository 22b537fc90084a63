package webhook

import (
	"errors"
	"fmt"

	"github.com/tagpin/tagpin/internal/resolve"
)

// explain is how a resolution error reads in a warning, an event or a
// denial: what happened, and what the pod's owner or the cluster admin
// can do about it (the resolver's own hints are for the CLI).
func explain(err error) string {
	var re *resolve.Error
	if !errors.As(err, &re) {
		return err.Error()
	}
	msg := fmt.Sprintf("%v: %s", re.Class, re.Detail)
	switch {
	case errors.Is(err, resolve.ErrUnauthorized):
		return msg + fmt.Sprintf("; give the pod or its service account an imagePullSecret for %s", re.Registry)
	case errors.Is(err, resolve.ErrBlocked):
		return msg + fmt.Sprintf("; if %s is a registry you trust, run tagpin webhook with --allow-registry %s", re.Registry, re.Registry)
	case re.Hint != "":
		return msg + "; " + re.Hint
	}
	return msg
}

// unavailableReason is the short reason a registry was unavailable.
func unavailableReason(err error) string {
	var re *resolve.Error
	if errors.As(err, &re) && re.Detail != "" {
		return "registry unavailable (" + re.Detail + ")"
	}
	return "registry unavailable"
}
