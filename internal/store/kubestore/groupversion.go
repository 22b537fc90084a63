// The API group and version of the custom resources, for controller-gen
// (make generate), which writes zz_generated.deepcopy.go and config/crd
// from the markers here and in types.go:
//
// +groupName=tagpin.dev
// +versionName=v1alpha1

package kubestore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of the custom resources.
const (
	Group   = "tagpin.dev"
	Version = "v1alpha1"
)

// Resources (plural names) of the custom resources.
const (
	ResourceClusterImageTags = "clusterimagetags"
	ResourceImageTags        = "imagetags"
	ResourceRevisionPins     = "revisionpins"
)

// GroupVersion is the API version of the custom resources.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// AddToScheme registers the custom resources' types with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ClusterImageTag{}, &ClusterImageTagList{},
		&ImageTag{}, &ImageTagList{},
		&RevisionPin{}, &RevisionPinList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
