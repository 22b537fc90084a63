package kubestore

// LegacyRevisionObjectName lets the tests seed pins of the earlier shape.
var LegacyRevisionObjectName = legacyRevisionObjectName
