// Package servingcert manages the webhook's own serving certificate, for
// clusters without cert-manager: a CA and a serving certificate for the
// webhook Service's DNS names, kept in one Secret (type kubernetes.io/tls
// plus the CA), the CA bundle injected into the MutatingWebhookConfiguration,
// both renewed well before they expire.
//
// Three parts, each usable alone:
//
//   - Renew is the policy, with no I/O: given the Secret's data and the
//     time, it returns the data to store (unchanged while valid).
//   - Rotator is the single writer (run it on the leader): it creates or
//     renews the Secret and keeps every webhook's caBundle equal to the
//     CA bundle, re-injecting it when someone else resets it.
//   - DirSync runs on every replica: it watches the Secret and writes
//     its certificate and key into a directory atomically (the way the
//     kubelet updates a mounted Secret), where the webhook server's
//     certificate watcher reloads them without a restart.
package servingcert
