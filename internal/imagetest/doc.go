// Package imagetest builds tagpin's container image for tests with the
// program make image runs (hack/image), and takes files out of an image
// pulled back from a registry, so that a test can run the very binary the
// image carries:
//
//	reg := registrytest.StartDistribution(t, registrytest.DistributionOptions{})
//	img := imagetest.Push(t, reg.Ref("tagpin"))
//	bin := imagetest.ExtractBinary(t, img.Ref) // tagpin for this machine's platform
//
// Building needs the go command and the tagpin module's work tree (found
// from the current directory); the first build for a platform compiles
// every package into the Go build cache and takes minutes on two cores,
// later ones link only.
package imagetest
