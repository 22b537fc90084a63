// Package leader runs background work on one replica at a time: the
// holder of a coordination.k8s.io Lease. Losing the Lease stops the work;
// winning it again starts it again, without restarting the process.
package leader
