package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
)

// TestExplainSpeaksTheWebhooksLanguage checks the advice on real
// resolution failures: the webhook's flags and pull secrets, never the
// CLI's.
func TestExplainSpeaksTheWebhooksLanguage(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1.0")
	private := registrytest.New(t, registrytest.WithTokenAuth("alice", "s3cret"))
	private.PushImage(t, "app:1.0")
	hanging := registrytest.New(t)
	hanging.SetFault(registrytest.Hang)
	allowed := func(reg *registrytest.Registry, opts ...resolve.Option) *resolve.Resolver {
		return resolve.New(append([]resolve.Option{
			resolve.WithAllowRegistry(reg.Addr()),
			resolve.WithInsecureRegistry(reg.Addr()),
			resolve.WithKeychain(authn.NewMultiKeychain()),
		}, opts...)...)
	}
	tests := []struct {
		name     string
		r        *resolve.Resolver
		ref      string
		say      string
		neverSay string
	}{
		{"deadline", allowed(hanging, resolve.WithTimeout(200*time.Millisecond)), hanging.Ref("app:1.0"), "--resolve-timeout", " --timeout"},
		{"unauthorized", allowed(private), private.Ref("app:1.0"), "imagePullSecret for " + private.Addr(), "docker login"},
		{"blocked", resolve.New(resolve.WithInsecureRegistry(reg.Addr()), resolve.WithKeychain(authn.NewMultiKeychain())), reg.Ref("app:1.0"), "run tagpin webhook with --allow-registry " + reg.Addr(), "docker login"},
		{"not found", allowed(reg), reg.Ref("app:2.0"), "check the image name and tag", "--"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ref, err := imageref.Parse(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tc.r.Resolve(t.Context(), ref)
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			got := explain(err)
			if !strings.Contains(got, tc.say) || strings.Contains(got, tc.neverSay) {
				t.Errorf("explain = %q; want it to say %q and not %q", got, tc.say, tc.neverSay)
			}
		})
	}
}
