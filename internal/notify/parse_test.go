package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	d1 = "sha256:0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b"
	d2 = "sha256:1a1b1c1d1e1f1a1b1c1d1e1f1a1b1c1d1e1f1a1b1c1d1e1f1a1b1c1d1e1f1a1b"
)

// Payloads as the senders write them (fields tagpin does not read
// included), built here from the senders' documented formats.
const (
	distributionBatch = `{"events": [
  {"id": "1", "timestamp": "2026-11-30T10:00:00Z", "action": "push",
   "target": {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100, "digest": "` + d2 + `", "length": 100,
              "repository": "team/app", "url": "http://registry.internal:5000/v2/team/app/blobs/` + d2 + `"},
   "request": {"id": "r1", "addr": "10.0.0.9:4711", "host": "registry.internal:5000", "method": "PUT", "useragent": "crane"},
   "actor": {}, "source": {"addr": "registry-0:5000", "instanceID": "x"}},
  {"id": "2", "timestamp": "2026-11-30T10:00:01Z", "action": "push",
   "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 500, "digest": "` + d1 + `", "length": 500,
              "repository": "team/app", "url": "http://registry.internal:5000/v2/team/app/manifests/` + d1 + `", "tag": "1.4"},
   "request": {"id": "r2", "addr": "10.0.0.9:4711", "host": "registry.internal:5000", "method": "PUT", "useragent": "crane"},
   "actor": {}, "source": {"addr": "registry-0:5000", "instanceID": "x"}},
  {"id": "3", "timestamp": "2026-11-30T10:00:02Z", "action": "pull",
   "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "` + d1 + `", "repository": "team/app", "tag": "1.4"},
   "request": {"host": "registry.internal:5000", "method": "GET"}},
  {"id": "4", "timestamp": "2026-11-30T10:00:03Z", "action": "push",
   "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "` + d1 + `", "repository": "team/app", "tag": "latest"},
   "request": {"host": "registry.internal:5000", "method": "PUT"}}
]}`
	harborPush = `{"type": "PUSH_ARTIFACT", "occur_at": 1764496800, "operator": "robot$ci",
  "event_data": {"resources": [
     {"digest": "` + d1 + `", "tag": "v2.1.0", "resource_url": "harbor.example.com/platform/api:v2.1.0"},
     {"digest": "` + d2 + `", "tag": "` + d2 + `", "resource_url": "harbor.example.com/platform/api@` + d2 + `"}],
   "repository": {"date_created": 1764400000, "name": "api", "namespace": "platform", "repo_full_name": "platform/api", "repo_type": "private"}}}`
	harborDelete = `{"type": "DELETE_ARTIFACT", "occur_at": 1764496800, "operator": "admin",
  "event_data": {"resources": [{"digest": "` + d1 + `", "tag": "v1", "resource_url": "harbor.example.com/platform/api:v1"}],
   "repository": {"name": "api", "namespace": "platform", "repo_full_name": "platform/api"}}}`
	dockerHubPush = `{"callback_url": "https://registry.hub.docker.com/u/acme/web/hook/abc/",
  "push_data": {"pushed_at": 1764496800, "pusher": "acme-ci", "tag": "stable"},
  "repository": {"comment_count": 0, "date_created": 1600000000, "description": "", "is_official": false, "is_private": true,
                 "name": "web", "namespace": "acme", "owner": "acme", "repo_name": "acme/web", "repo_url": "https://hub.docker.com/r/acme/web", "status": "Active"}}`
)

func TestParse(t *testing.T) {
	type ev struct{ Ref, Digest string }
	for _, tc := range []struct {
		name     string
		sender   Sender
		body     string
		registry string
		want     []ev
		ignored  int
	}{
		{"distribution: manifest pushes by tag; blobs and pulls ignored", Distribution, distributionBatch, "",
			[]ev{{"registry.internal:5000/team/app:1.4", d1}, {"registry.internal:5000/team/app:latest", d1}}, 2},
		{"distribution: ?registry= names the registry as tagpin knows it", Distribution, distributionBatch, "registry.example.com",
			[]ev{{"registry.example.com/team/app:1.4", d1}, {"registry.example.com/team/app:latest", d1}}, 2},
		{"harbor: a digest in the tag field is not a tag", Harbor, harborPush, "",
			[]ev{{"harbor.example.com/platform/api:v2.1.0", d1}}, 1},
		{"harbor: not a push", Harbor, harborDelete, "", nil, 1},
		{"docker hub: no digest; official images under library/", DockerHub, dockerHubPush, "",
			[]ev{{"docker.io/acme/web:stable", ""}}, 0},
		{"docker hub: an official image", DockerHub, `{"push_data": {"tag": "1.27"}, "repository": {"repo_name": "nginx"}}`, "",
			[]ev{{"docker.io/library/nginx:1.27", ""}}, 0},
		{"generic: one object", Generic, `{"registry": "ghcr.io", "repository": "acme/api", "tag": "v3", "digest": "` + d2 + `"}`, "",
			[]ev{{"ghcr.io/acme/api:v3", d2}}, 0},
		{"generic: a list; a bad digest is dropped, it is a hint", Generic,
			`[{"registry": "ghcr.io", "repository": "acme/api", "tag": "v3", "digest": "md5:zz"}, {"registry": "quay.io", "repository": "acme/db", "tag": "15"}]`, "",
			[]ev{{"ghcr.io/acme/api:v3", ""}, {"quay.io/acme/db:15", ""}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parse(tc.sender, []byte(tc.body), tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			var got []ev
			for _, e := range p.events {
				got = append(got, ev{e.Ref.TagString(), e.Digest.String()})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if p.ignored != tc.ignored {
				t.Errorf("ignored %d, want %d", p.ignored, tc.ignored)
			}
		})
	}
}

// TestParseInvalid: payloads that cannot be read are errors that say
// why, never a panic and never an event.
func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sender Sender
		body   string
		want   string
	}{
		{"not JSON", Distribution, `{"events": [`, "the body is not the expected JSON"},
		{"another sender's format", Distribution, harborPush, "no events list: not a Distribution event envelope"},
		{"events not a list", Distribution, `{"events": {"action": "push"}}`, "the body is not the expected JSON"},
		{"no host anywhere", Distribution, `{"events": [{"action": "push", "target": {"repository": "a", "tag": "1"}}]}`, "event 0: invalid notification: no registry host (pass ?registry=HOST"},
		{"harbor without event_data", Harbor, `{"type": "PUSH_ARTIFACT"}`, "not a Harbor webhook payload"},
		{"docker hub without push_data", DockerHub, `{"repository": {"repo_name": "a/b"}}`, "not a Docker Hub webhook payload"},
		{"docker hub without a tag", DockerHub, `{"push_data": {}, "repository": {"repo_name": "a/b"}}`, "no tag"},
		{"generic without a repository", Generic, `{"registry": "ghcr.io", "tag": "1"}`, "no repository"},
		{"a path in the tag", Generic, `{"registry": "ghcr.io", "repository": "a/b", "tag": "../../x"}`, "is not a registry, a repository and a tag"},
		{"an upper-case repository", Generic, `{"registry": "ghcr.io", "repository": "Acme/B", "tag": "1"}`, "invalid notification"},
		{"JSON null", Generic, `null`, "no registry host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parse(tc.sender, []byte(tc.body), "")
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v (events %+v), want ErrInvalid", err, p.events)
			}
			if !contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// FuzzParse: no payload crashes a parser.
func FuzzParse(f *testing.F) {
	for _, s := range []string{distributionBatch, harborPush, harborDelete, dockerHubPush, `[{"registry":"a.io","repository":"b","tag":"c"}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, s := range Senders {
			p, err := parse(s, []byte(body), "")
			if err != nil && len(p.events) > 0 {
				t.Errorf("%s: events with an error", s)
			}
			for _, e := range p.events {
				if !e.Ref.HasTag() || e.Ref.Digest != "" {
					t.Errorf("%s: event %+v is not a tag", s, e.Ref)
				}
			}
		}
	})
}
