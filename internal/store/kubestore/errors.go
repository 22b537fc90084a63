package kubestore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// ErrConflict is returned (wrapped) when a write kept conflicting with
// other writers until its attempts ran out.
var ErrConflict = errors.New("the record kept changing under concurrent writers")

// apiError explains err, returned by verb on resource (e.g. "create",
// "imagetags"), in terms of what to do about it. Callers handle an
// object's NotFound themselves: one left here means the resource itself
// is missing.
func apiError(verb, resource string, err error) error {
	gr := resource + "." + Group
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: %w", verb, gr, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("permission denied (RBAC): the service account tagpin runs as needs %q on %s; grant it in tagpin's ClusterRole: %w", verb, gr, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s %s: the Kubernetes API server rejected tagpin's credentials; check its service account token or kubeconfig: %w", verb, gr, err)
	case meta.IsNoMatchError(err), apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s: the CustomResourceDefinition %s is not installed; apply the CRDs (kubectl apply -f config/crd/ from the tagpin sources) and grant the RBAC listed in docs/webhook.md and docs/store.md: %w", verb, gr, gr, err)
	case unreachable(err):
		return fmt.Errorf("%s %s: the Kubernetes API server is unreachable; check the network and the API server: %w", verb, gr, err)
	default:
		return fmt.Errorf("%s %s: %w", verb, gr, err)
	}
}

// isNamespaceNotFound reports a write refused because its namespace does
// not exist.
func isNamespaceNotFound(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsNotFound(err) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}

// unreachable reports errors that mean the API server could not be
// reached or did not answer.
func unreachable(err error) bool {
	var netErr net.Error
	switch {
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &netErr):
		return true
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return true
	}
	return false
}
