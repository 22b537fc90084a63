package resolve

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestForbidden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fd00:ec2::254", "private"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "reserved"},
		{"100.100.100.200", "reserved"},
		{"239.1.2.3", "multicast"},
		{"8.8.8.8", ""},
		{"2606:4700::1111", ""},
		{"172.32.0.1", ""},
		// IPv4 addresses embedded in IPv6 are classified as IPv4.
		{"::7f00:1", "loopback (IPv4 127.0.0.1 embedded in an IPv4-compatible address)"},
		{"::a9fe:a9fe", "link-local (IPv4 169.254.169.254 embedded in an IPv4-compatible address)"},
		{"::808:808", ""},
		{"::ffff:10.0.0.1", "private"},
		{"64:ff9b::7f00:1", "loopback (IPv4 127.0.0.1 embedded in a NAT64 address)"},
		{"64:ff9b::a00:1", "private (IPv4 10.0.0.1 embedded in a NAT64 address)"},
		{"64:ff9b::808:808", ""},
		{"64:ff9b:1::7f00:1", "loopback (IPv4 127.0.0.1 embedded in a NAT64 address)"},
		{"64:ff9b:1:7f00:0:100::", "loopback (IPv4 127.0.0.1 embedded in a NAT64 address)"},
		{"64:ff9b:1::808:808", ""},
		{"2002:7f00:1::1", "loopback (IPv4 127.0.0.1 embedded in a 6to4 address)"},
		{"2002:a9fe:a9fe::1", "link-local (IPv4 169.254.169.254 embedded in a 6to4 address)"},
		{"2002:808:808::1", ""},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (IPv4 127.0.0.1 embedded in a Teredo address)"},
		{"2001:0:4136:e378:8000:63bf:5601:5601", "link-local (IPv4 169.254.169.254 embedded in a Teredo address)"},
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", ""},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			if got := forbidden(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("forbidden(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

func TestParseChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   challenge
		wantOK bool
	}{
		{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`,
			challenge{scheme: "bearer", params: map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io"}}, true},
		{`Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull"`,
			challenge{scheme: "bearer", params: map[string]string{"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:org/app:pull"}}, true},
		{`Basic realm="basic-realm"`, challenge{scheme: "basic", params: map[string]string{"realm": "basic-realm"}}, true},
		{`bearer realm=https://x/token, service=x`, challenge{scheme: "bearer", params: map[string]string{"realm": "https://x/token", "service": "x"}}, true},
		{`Bearer realm="a\"b"`, challenge{scheme: "bearer", params: map[string]string{"realm": `a"b`}}, true},
		{`Negotiate abc`, challenge{}, false},
		{``, challenge{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseChallenge(tc.in)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(challenge{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`)
	f.Add(`Basic realm="x"`)
	f.Fuzz(func(_ *testing.T, s string) {
		parseChallenge(s) // must not panic or loop
	})
}
