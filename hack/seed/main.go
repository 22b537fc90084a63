// Command seed pushes small random images to a registry for the demo and
// benchmarks: `seed -registry 127.0.0.1:5000 web:1.0 api:2.1`. A
// reference with a "+multi" suffix (web:1.0+multi) is pushed as a
// linux/amd64 + linux/arm64 index. It prints "REF DIGEST" per image.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run() error {
	registry := flag.String("registry", "127.0.0.1:5000", "registry host:port (plain HTTP)")
	user := flag.String("username", "", "basic auth user")
	password := flag.String("password", "", "basic auth password")
	flag.Parse()
	auth := authn.Anonymous
	if *user != "" {
		auth = &authn.Basic{Username: *user, Password: *password}
	}
	for _, arg := range flag.Args() {
		repoTag, multi := strings.CutSuffix(arg, "+multi")
		ref, err := name.ParseReference(*registry+"/"+repoTag, name.Insecure)
		if err != nil {
			return err
		}
		d, err := push(ref, auth, multi)
		if err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		fmt.Printf("%s %s\n", repoTag, d)
	}
	return nil
}

func push(ref name.Reference, auth authn.Authenticator, multi bool) (v1.Hash, error) {
	if !multi {
		img, err := random.Image(512, 1)
		if err != nil {
			return v1.Hash{}, err
		}
		if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
			return v1.Hash{}, err
		}
		return img.Digest()
	}
	var idx v1.ImageIndex = empty.Index
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(512, 1)
		if err != nil {
			return v1.Hash{}, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return v1.Hash{}, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return v1.Hash{}, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuth(auth)); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}
