package pin_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/pin"
)

const (
	hexA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hexB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// found is the part of a Finding a scan test compares.
type found struct {
	Line   int
	Text   string
	Kind   pin.Kind
	Reason string
}

// summarize checks the invariants every finding must hold and returns
// what the tests compare. Reasons for invalid references are shortened
// to "invalid": their text comes from the reference grammar.
func summarize(t *testing.T, content string, fs []pin.Finding) []found {
	t.Helper()
	var out []found
	end := 0
	for _, f := range fs {
		if f.Start < end || f.End < f.Start || f.End > len(content) {
			t.Fatalf("finding [%d:%d] is out of order, overlapping or out of bounds (previous end %d, length %d)", f.Start, f.End, end, len(content))
		}
		end = f.End
		if got := content[f.Start:f.End]; got != f.Text {
			t.Errorf("content[%d:%d] = %q, Text = %q", f.Start, f.End, got, f.Text)
		}
		if wantLine := strings.Count(content[:f.Start], "\n") + 1; f.Line != wantLine {
			t.Errorf("%q: Line = %d, want %d", f.Text, f.Line, wantLine)
		}
		if f.Kind != pin.Skipped && !f.Spread && f.Ref.Original != f.Text {
			t.Errorf("%q: Ref.Original = %q", f.Text, f.Ref.Original)
		}
		reason := f.Reason
		if strings.HasPrefix(reason, "invalid image reference") {
			reason = "invalid"
		}
		out = append(out, found{Line: f.Line, Text: f.Text, Kind: f.Kind, Reason: reason})
	}
	return out
}

func unpinned(line int, text string) found { return found{Line: line, Text: text, Kind: pin.Unpinned} }

func skipped(line int, text, reason string) found {
	return found{Line: line, Text: text, Kind: pin.Skipped, Reason: reason}
}

func TestScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, content string
		want                []found
	}{
		// image: keys in YAML and JSON.
		{"plain", "a.yaml", "image: nginx:1.27\n", []found{unpinned(1, "nginx:1.27")}},
		{"single quoted", "a.yaml", "image: 'nginx:1.27'\n", []found{unpinned(1, "nginx:1.27")}},
		{"double quoted", "a.yml", `image: "nginx:1.27"` + "\n", []found{unpinned(1, "nginx:1.27")}},
		{"list dash", "a.yaml", "- image: nginx\n", []found{unpinned(1, "nginx")}},
		{"nested with comment", "a.yaml", "spec:\n  containers:\n    - name: a\n      image: a/b:1 # the app\n", []found{unpinned(4, "a/b:1")}},
		{"comment without space", "a.yaml", "image: a/b:1#not-a-comment\n", []found{skipped(1, "a/b:1#not-a-comment", "invalid")}},
		{"space before colon", "a.yaml", "image : nginx\n", []found{unpinned(1, "nginx")}},
		{"flow mapping", "a.yaml", "- {name: a, image: b:1}\n", []found{unpinned(1, "b:1")}},
		{"flow mapping at end", "a.yaml", "c: {image: nginx}\n", []found{unpinned(1, "nginx")}},
		{"flow sequence", "a.yaml", "containers: [{name: a, image: 'b:1'}, {image: c}]\n", []found{unpinned(1, "b:1"), unpinned(1, "c")}},
		{"flow across lines", "a.yaml", "containers: [\n  {name: a,\n   image: b:1},\n  {image: c}\n]\nimage: d,e\n", []found{unpinned(3, "b:1"), unpinned(4, "c"), skipped(6, "d,e", "invalid")}},
		{"json", "a.json", `{"spec": {"containers": [{"name": "a", "image": "nginx:1.27"}]}}`, []found{unpinned(1, "nginx:1.27")}},
		{"json without spaces", "a.json", `{"image":"nginx:1.27","x":1}`, []found{unpinned(1, "nginx:1.27")}},
		{"pinned", "a.yaml", "image: nginx:1@sha256:" + hexA + "\n", []found{{Line: 1, Text: "nginx:1@sha256:" + hexA, Kind: pin.Pinned}}},
		{"digest only", "a.yaml", "image: nginx@sha256:" + hexA + "\n", []found{{Line: 1, Text: "nginx@sha256:" + hexA, Kind: pin.DigestOnly}}},
		{"anchor and alias", "a.yaml", "a:\n  image: &img app:1\nb:\n  image: *img\n", []found{unpinned(2, "app:1")}},
		{"tag", "a.yaml", "image: !!str app:1\n", []found{unpinned(1, "app:1")}},
		{"crlf", "a.yaml", "a: 1\r\nimage: nginx:1.27\r\n", []found{unpinned(2, "nginx:1.27")}},
		{"bom", "a.yaml", "\uFEFFimage: nginx\n", []found{unpinned(1, "nginx")}},
		{"no trailing newline", "a.yaml", "a: 1\nimage: nginx", []found{unpinned(2, "nginx")}},
		{"document markers", "a.yaml", "a: [\n---\nimage: x:1\n...\n", []found{unpinned(3, "x:1")}},

		// What is not an image.
		{"other keys", "a.yaml", "imagePullPolicy: Always\nimages: [a:1]\nbaseImage: b:1\nmyimage: c:1\n", nil},
		{"comment line", "a.yaml", "# image: nginx\n  # image: nginx\n", nil},
		{"trailing comment", "a.yaml", "foo: bar # image: nginx\n", nil},
		{"inside strings", "a.yaml", "description: \"use image: nginx\"\nargs: [\"--image\", \"nginx\"]\nnote: it's image: x\n", nil},
		{"mapping value", "a.yaml", "image:\n  repository: nginx\n  pullPolicy: IfNotPresent\n", nil},
		{"helm values map", "a.yaml", "image:\n  repository: nginx\n  tag: 1.27\n", []found{{Line: 3, Text: "1.27", Kind: pin.Skipped, Reason: "Helm values image map without a digest key; charts differ in whether they read one, so none was added"}}},
		{"flow collection value", "a.yaml", "image: {repository: nginx, tag: \"1.27\"}\n", nil},
		{"block scalar text", "a.yaml", "run: |\n  echo {\n  image: embedded:1\nimage: d,e\n", []found{skipped(4, "d,e", "invalid")}},
		{"block scalar script", "ci.yml", "jobs:\n  a:\n    steps:\n      - run: |\n          echo \"image: nginx:1.27\"\n          image: nginx:1.27\n        env:\n          image: x:1\n", []found{unpinned(8, "x:1")}},
		{"block scalar body", "a.yaml", "body: >\n  Use image: nginx:1.27 or\n  - image: redis:7\n    container: a:1\nimage: b:1\n", []found{unpinned(5, "b:1")}},
		{"block scalar keeps pins", "a.yaml", "body: |\n  image: nginx:1@sha256:" + hexA + "\n", []found{{Line: 2, Text: "nginx:1@sha256:" + hexA, Kind: pin.Pinned}}},
		{"block scalar value", "a.yaml", "image: >-\n  folded:1\n", []found{unpinned(2, "folded:1")}},
		{"block scalar value kept", "a.yaml", "- image: |+ # keep\n\n    nginx:1.27  \r\n\n  name: a\n", []found{unpinned(3, "nginx:1.27")}},
		{"block scalar value at the end", "a.yaml", "image: |-\n  nginx:1.27", []found{unpinned(2, "nginx:1.27")}},
		{"block scalar value on lines", "a.yaml", "image: >\n  nginx:\n  1.27\nimage: |\nimage: b:1\n", []found{skipped(1, ">", "multi-line value; write the reference on one line to pin it"), skipped(4, "|", "multi-line value; write the reference on one line to pin it"), unpinned(5, "b:1")}},
		{"next line value", "a.yaml", "image:\n  nginx:1.27\nc:\n  - image: # the app\n      'ghcr.io/a/b:1' # pinned later\n", []found{unpinned(2, "nginx:1.27"), unpinned(5, "ghcr.io/a/b:1")}},
		{"next line not a value", "a.yaml", "image:\nnginx:1.27\nimage:\n  tag: 1\nimage:\n  - a:1\nimage:\n  a:1 b\nimage:\n\n  # c\n  ~\n", []found{skipped(8, "a:1 b", "invalid"), skipped(12, "~", "empty value")}},
		{"sequence entry block scalar", "a.yaml", "command:\n  - sh\n  - |\n    image: nginx:1.27\n    image:\n      redis:7\n  - >-\n    - image: x:1\nimage: b:1\n", []found{unpinned(9, "b:1")}},
		{"unterminated quote", "a.yaml", "image: \"nginx\nimage: x:1\n", []found{unpinned(2, "x:1")}},
		{"not yaml", "notes.txt", "image: nginx:1.27\n", nil},
		{"binary", "a.yaml", "image: nginx\n\x00", nil},

		// Templates, placeholders and values that are not references.
		{"helm", "a.yaml", "image: {{ .Values.image }}\n", []found{skipped(1, "{{ .Values.image }}", "templated value")}},
		{"helm quoted", "a.yaml", `image: "{{ .Values.repo }}:{{ .Values.tag }}"` + "\n", []found{skipped(1, "{{ .Values.repo }}:{{ .Values.tag }}", "templated value")}},
		{"helm in flow", "a.yaml", "- {name: a, image: {{ .Values.image }}}\n- {image: b:1}\n", []found{skipped(1, "{{ .Values.image }}", "templated value"), unpinned(2, "b:1")}},
		{"helm control lines", "a.yaml", "{{- if .Values.x }}\n{{- with .Values.y }}\nimage: busybox:1.36\n{{- end }}\n", []found{unpinned(3, "busybox:1.36")}},
		{"env braces", "a.yaml", "image: ${IMAGE}\n", []found{skipped(1, "${IMAGE}", "templated value")}},
		{"env default", "a.yaml", "image: ${REG:-ghcr.io/a}/b:1\n", []found{skipped(1, "${REG:-ghcr.io/a}/b:1", "templated value")}},
		{"env plain", "a.yaml", "image: $IMAGE\n", []found{skipped(1, "$IMAGE", "templated value")}},
		{"command substitution", "a.yaml", "image: reg/$(NAME):1\n", []found{skipped(1, "reg/$(NAME):1", "templated value")}},
		{"placeholder", "a.yaml", "image: <your-image>\n", []found{skipped(1, "<your-image>", "placeholder")}},
		{"empty quoted", "a.yaml", "image: \"\"\n", []found{skipped(1, "", "empty value")}},
		{"null", "a.yaml", "image: null\nimage: ~\n", []found{skipped(1, "null", "empty value"), skipped(2, "~", "empty value")}},
		{"invalid", "a.yaml", "image: Not A Ref\n", []found{skipped(1, "Not A Ref", "invalid")}},

		// GitHub Actions.
		{"workflow container", "ci.yml", "on: push\njobs:\n  a:\n    container: node:20\n", []found{unpinned(4, "node:20")}},
		{"workflow container mapping", "ci.yml", "jobs:\n  a:\n    container:\n      image: node:20\n", []found{unpinned(4, "node:20")}},
		{"workflow container template", "ci.yml", "jobs:\n  a:\n    container: ${{ matrix.image }}\n", []found{skipped(3, "${{ matrix.image }}", "templated value")}},
		{"container outside workflows", "hpa.yaml", "metrics:\n  - containerResource: {name: cpu, container: application}\n", nil},
		{"uses docker", "ci.yml", "jobs:\n  a:\n    steps:\n      - uses: docker://alpine:3.19\n      - uses: 'docker://ghcr.io/a/b:1' # lint\n", []found{unpinned(4, "alpine:3.19"), unpinned(5, "ghcr.io/a/b:1")}},
		{"uses action", "ci.yml", "jobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n      - uses: ./local\n", nil},
		{"action image", "action.yml", "runs:\n  using: docker\n  image: docker://debian:12\n", []found{unpinned(3, "debian:12")}},
		{"action dockerfile", "action.yml", "runs:\n  using: docker\n  image: Dockerfile\n", []found{skipped(3, "Dockerfile", "invalid")}},

		// FROM in Dockerfiles.
		{"from", "Dockerfile", "FROM golang:1.26 AS build\nFROM build\nFROM scratch\n", []found{unpinned(1, "golang:1.26")}},
		{"from lower case and platform", "Dockerfile", "from --platform=$BUILDPLATFORM golang:1.26 as Build\nFROM build AS test\nFROM BUILD\n", []found{unpinned(1, "golang:1.26")}},
		{"from indented", "Containerfile", "  FROM\talpine:3.20\t AS a\r\n", []found{unpinned(1, "alpine:3.20")}},
		{"from arg", "Dockerfile", "ARG BASE=alpine\nFROM ${BASE}\nFROM $BASE AS x\nFROM x\n", []found{unpinned(1, "alpine")}},
		{"from arg quoted", "Dockerfile", "ARG REG=ghcr.io\nARG BASE=\"ghcr.io/acme/base:2\" OTHER=x\nFROM --platform=$TARGETPLATFORM ${BASE} AS app\n", []found{unpinned(2, "ghcr.io/acme/base:2")}},
		{"from arg redeclared", "Dockerfile", "ARG BASE=alpine:3.19\nARG BASE=alpine:3.20\nFROM $BASE\n", []found{unpinned(2, "alpine:3.20")}},
		{"from arg without default", "Dockerfile", "ARG BASE\nFROM ${BASE}\n", []found{skipped(2, "${BASE}", "templated value, set by ARG BASE, which has no default")}},
		{"from arg in a stage", "Dockerfile", "FROM alpine:3 AS a\nARG BASE=busybox:1\nFROM ${BASE}\n", []found{unpinned(1, "alpine:3"), skipped(3, "${BASE}", "templated value, set by ARG")}},
		{"from arg partial", "Dockerfile", "ARG V=1.26\nARG REG=ghcr.io\nFROM golang:${V}\nFROM ${REG}/app:1\nFROM ${V:-1}\n", []found{skipped(3, "golang:${V}", "templated value, set by ARG"), skipped(4, "${REG}/app:1", "templated value, set by ARG"), skipped(5, "${V:-1}", "templated value, set by ARG")}},
		{"from arg templated default", "Dockerfile", "ARG REG=ghcr.io\nARG BASE=${REG}/base:1\nFROM $BASE\n", []found{skipped(2, "${REG}/base:1", "templated value")}},
		{"arg not used by from", "Dockerfile", "ARG TOOL=alpine:3\nFROM scratch\n", nil},
		{"from continued", "Dockerfile", "FROM \\\n    --platform=linux/amd64 \\\n    # the base\n    alpine:3.20 \\\n  AS base\nFROM base\n", []found{unpinned(4, "alpine:3.20")}},
		{"from continued glued", "Dockerfile", "FROM alpine:3.20\\\n AS base\nFROM base\n", []found{unpinned(1, "alpine:3.20")}},
		{"escape directive", "Dockerfile", "# syntax=docker/dockerfile:1\n# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 AS base\nWORKDIR C:\\\nFROM `\n  base\nRUN echo \\\nFROM alpine:3\n", []found{unpinned(3, "mcr.microsoft.com/windows/servercore:ltsc2022"), unpinned(8, "alpine:3")}},
		{"escape directive too late", "Dockerfile", "FROM alpine:3\n# escape=`\nRUN echo \\\nFROM busybox:1\n", []found{unpinned(1, "alpine:3")}},
		{"copy from image", "Dockerfile", "FROM alpine:3 AS build\nCOPY --from=build /a /a\nCOPY --chown=0:0 --from=ghcr.io/acme/tools:1.4 /bin/t /bin/t\nCOPY --from=0 /b /b\n", []found{unpinned(1, "alpine:3"), unpinned(3, "ghcr.io/acme/tools:1.4")}},
		{"copy from context", "Dockerfile", "FROM alpine:3\nCOPY --from=tools /t /t\ncopy --from=Alpine:3 /x /x\nCOPY --from=${TOOLS} /t /t\nCOPY src --from=a:1 /d\n", []found{unpinned(1, "alpine:3"), skipped(2, "tools", "COPY --from names neither a stage of this file nor a tagged image; it may be a build context"), skipped(3, "Alpine:3", "invalid"), skipped(4, "${TOOLS}", "templated value")}},
		{"copy from continued", "Dockerfile", "FROM scratch\nCOPY \\\n  --from=busybox:1.36 \\\n  /bin/sh /bin/sh\n", []found{unpinned(3, "busybox:1.36")}},
		{"from placeholder", "Dockerfile.prod", "FROM <base-image>\n", []found{skipped(1, "<base-image>", "placeholder")}},
		{"from invalid", "build.Dockerfile", "FROM Not/Valid\n", []found{skipped(1, "Not/Valid", "invalid")}},
		{"from pinned", "app.dockerfile", "FROM alpine:3@sha256:" + hexA + "\nFROM alpine@sha256:" + hexB + "\n", []found{{Line: 1, Text: "alpine:3@sha256:" + hexA, Kind: pin.Pinned}, {Line: 2, Text: "alpine@sha256:" + hexB, Kind: pin.DigestOnly}}},
		{"from in comment", "Dockerfile", "# FROM alpine\n", nil},
		{"from in continuation", "Dockerfile", "RUN echo \\\n  from here \\\n\n  # comment\n  FROM there\nFROM alpine\n", []found{unpinned(6, "alpine")}},
		{"from without image", "Dockerfile", "FROM\nFROM --platform=linux/amd64\n", nil},
		{"from outside dockerfiles", "build.sh", "FROM alpine\n", nil},

		// Images built here.
		{"ko", "a.yaml", "image: ko://github.com/acme/app/cmd/web\n", []found{skipped(1, "ko://github.com/acme/app/cmd/web", "built here by ko (ko://import/path), not an image in a registry")}},
		{"skaffold artifacts", "skaffold.yaml", "apiVersion: skaffold/v4beta11\nbuild:\n  artifacts:\n  - image: app\n    docker: {dockerfile: Dockerfile}\nverify:\n- container:\n    image: app:dev\n- container:\n    image: alpine:3\n", []found{skipped(4, "app", "built here: an artifact of this Skaffold config, not an image in a registry"), skipped(8, "app:dev", "built here: an artifact of this Skaffold config, not an image in a registry"), unpinned(10, "alpine:3")}},
		{"not skaffold", "a.yaml", "build:\n  artifacts:\n  - image: app\n", []found{unpinned(3, "app")}},

		// Dotenv files.
		{"env image keys", ".env", "APP_IMAGE=ghcr.io/a/app:1\nbase_image=\"alpine:3\"\n  export  TOOLS_IMAGE='b:2' # x\nOTHER=c:3\n", []found{unpinned(1, "ghcr.io/a/app:1"), unpinned(2, "alpine:3"), unpinned(3, "b:2")}},
		{"env values", "prod.env", "A_IMAGE=a:1#frag\nB_IMAGE=\"b:1\nC_IMAGE =c:1\nD_IMAGE=\nE_IMAGE=e:1   # comment\r\n", []found{skipped(1, "a:1#frag", "invalid"), unpinned(5, "e:1")}},
		{"env outside dotenv files", "env.sh", "APP_IMAGE=ghcr.io/a/app:1\n", nil},
		{"stdin has both rules", "-", "FROM alpine\nimage: nginx\n", []found{unpinned(1, "alpine"), unpinned(2, "nginx")}},

		// Pins anywhere.
		{"shell pin", "deploy.sh", "IMAGE=reg.io/web:1.0@sha256:" + hexA + "\n", []found{{Line: 1, Text: "reg.io/web:1.0@sha256:" + hexA, Kind: pin.Pinned}}},
		{"quoted pin", "Makefile", "IMG ?= \"ghcr.io/o/a:v1@sha256:" + hexA + "\"\n", []found{{Line: 1, Text: "ghcr.io/o/a:v1@sha256:" + hexA, Kind: pin.Pinned}}},
		{"markdown pin", "README.md", "Use `nginx:1.27@sha256:" + hexA + "`.\n", []found{{Line: 1, Text: "nginx:1.27@sha256:" + hexA, Kind: pin.Pinned}}},
		{"scheme pin", "notes.txt", "docker://alpine:3@sha256:" + hexA + "\n", []found{{Line: 1, Text: "alpine:3@sha256:" + hexA, Kind: pin.Pinned}}},
		{"pin after variable", "deploy.sh", "A=$REG/app:1@sha256:" + hexA + "\nB={{ .r }}/app:1@sha256:" + hexA + "\nC=$(R)/app:1@sha256:" + hexA + "\nD=<reg>/app:1@sha256:" + hexA + "\n", nil},
		{"not a pin", "notes.txt", "a:1@sha256:" + hexA + "0\nb:1@sha256:" + strings.ToUpper(hexA) + "\nc@sha256:" + hexA + "\n-d:1@sha256:" + hexA[:60] + "\n", nil},
		{"longer token", "notes.txt", "a:1@sha256:" + hexA + "-x\nb:1@sha256:" + hexA + ".tar\nc:1@sha256:" + hexA + "/blobs\nuser@d:1@sha256:" + hexA + "\n", nil},
		{"pin before punctuation", "notes.txt", "see a:1@sha256:" + hexA + ".\nb:1@sha256:" + hexA + ": ok\n", []found{{Line: 1, Text: "a:1@sha256:" + hexA, Kind: pin.Pinned}, {Line: 2, Text: "b:1@sha256:" + hexA, Kind: pin.Pinned}}},
		{"pin in yaml once", "a.yaml", "image: nginx:1@sha256:" + hexA + "\nenv: X=nginx:1@sha256:" + hexB + "\n", []found{{Line: 1, Text: "nginx:1@sha256:" + hexA, Kind: pin.Pinned}, {Line: 2, Text: "nginx:1@sha256:" + hexB, Kind: pin.Pinned}}},
		{"pin in uses once", "ci.yml", "jobs:\n  - uses: docker://alpine:3@sha256:" + hexA + "\n", []found{{Line: 2, Text: "alpine:3@sha256:" + hexA, Kind: pin.Pinned}}},
		{"pin in arg before from", "Dockerfile", "ARG B=alpine:3@sha256:" + hexA + "\nFROM alpine:3@sha256:" + hexB + "\n", []found{{Line: 1, Text: "alpine:3@sha256:" + hexA, Kind: pin.Pinned}, {Line: 2, Text: "alpine:3@sha256:" + hexB, Kind: pin.Pinned}}},
		{"pin in comment before image", "a.yaml", "# nginx:1@sha256:" + hexA + "\n- image: nginx:1@sha256:" + hexB + "\n", []found{{Line: 1, Text: "nginx:1@sha256:" + hexA, Kind: pin.Pinned}, {Line: 2, Text: "nginx:1@sha256:" + hexB, Kind: pin.Pinned}}},
		{"pins around images", "-", "# a:1@sha256:" + hexA + "\nFROM a:1@sha256:" + hexB + " AS x\nARG C=a:1@sha256:" + hexA + "\nimage: a:1@sha256:" + hexB + " # a:1@sha256:" + hexA + "\n", []found{{Line: 1, Text: "a:1@sha256:" + hexA, Kind: pin.Pinned}, {Line: 2, Text: "a:1@sha256:" + hexB, Kind: pin.Pinned}, {Line: 3, Text: "a:1@sha256:" + hexA, Kind: pin.Pinned}, {Line: 4, Text: "a:1@sha256:" + hexB, Kind: pin.Pinned}, {Line: 4, Text: "a:1@sha256:" + hexA, Kind: pin.Pinned}}},
		{"templated pin in yaml", "a.yaml", "image: ${REG}/app:1@sha256:" + hexA + "\n", []found{skipped(1, "${REG}/app:1@sha256:"+hexA, "templated value")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := summarize(t, tc.content, pin.Scan(tc.file, []byte(tc.content)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Scan(%q, %q) (-want +got):\n%s", tc.file, tc.content, diff)
			}
		})
	}
}

func TestScanRefs(t *testing.T) {
	t.Parallel()
	fs := pin.Scan("a.yaml", []byte("a:\n  image: nginx # comment\n  other: docker.io/library/nginx:1.27@sha256:"+hexA+"\n"))
	if len(fs) != 2 {
		t.Fatalf("got %d findings, want 2", len(fs))
	}
	type ref struct{ Original, Name, Tag, TagString, Digest string }
	var got []ref
	for _, f := range fs {
		got = append(got, ref{f.Ref.Original, f.Ref.Name, f.Ref.Tag, f.Ref.TagString(), f.Ref.Digest.String()})
	}
	want := []ref{
		{"nginx", "nginx", "latest", "docker.io/library/nginx:latest", ""},
		{"docker.io/library/nginx:1.27@sha256:" + hexA, "docker.io/library/nginx", "1.27", "docker.io/library/nginx:1.27", "sha256:" + hexA},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		edits   []pin.Edit
		want    string
		wantErr bool
	}{
		{"none", "abc", nil, "abc", false},
		{"in order", "a b c", []pin.Edit{{Start: 0, End: 1, New: "A"}, {Start: 4, End: 5, New: "CC"}}, "A b CC", false},
		{"any order", "a b c", []pin.Edit{{Start: 4, End: 5, New: "CC"}, {Start: 0, End: 1, New: "A"}}, "A b CC", false},
		{"insert", "ab", []pin.Edit{{Start: 1, End: 1, New: "-"}}, "a-b", false},
		{"adjacent", "ab", []pin.Edit{{Start: 1, End: 2, New: "B"}, {Start: 0, End: 1, New: "A"}}, "AB", false},
		{"whole", "ab", []pin.Edit{{Start: 0, End: 2, New: ""}}, "", false},
		{"overlap", "abcdef", []pin.Edit{{Start: 0, End: 3, New: "x"}, {Start: 2, End: 4, New: "y"}}, "", true},
		{"same span twice", "abcdef", []pin.Edit{{Start: 1, End: 3, New: "x"}, {Start: 1, End: 3, New: "x"}}, "", true},
		{"past the end", "ab", []pin.Edit{{Start: 1, End: 3, New: "x"}}, "", true},
		{"negative", "ab", []pin.Edit{{Start: -1, End: 1, New: "x"}}, "", true},
		{"reversed", "abc", []pin.Edit{{Start: 2, End: 1, New: "x"}}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := pin.Apply([]byte(tc.content), tc.edits)
			if tc.wantErr {
				if !errors.Is(err, pin.ErrBadEdit) {
					t.Errorf("Apply(%q, %v): error %v, want pin.ErrBadEdit", tc.content, tc.edits, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("Apply(%q, %v) = %q, %v, want %q", tc.content, tc.edits, got, err, tc.want)
			}
		})
	}
}

// TestScanPinRoundTrip pins every file of the golden cases twice: the
// second scan must find every reference pinned, at the same lines (or,
// when digest keys were added, at the same place among the others).
func TestScanPinRoundTrip(t *testing.T) {
	t.Parallel()
	for _, dir := range goldenCases(t) {
		for _, name := range goldenInputs(t, dir) {
			testScanPinRoundTrip(t, dir, name)
		}
	}
}

func testScanPinRoundTrip(t *testing.T, dir, name string) {
	t.Run(filepath.Base(dir)+"/"+name, func(t *testing.T) {
		t.Parallel()
		content := readFile(t, dir+"/"+name)
		first := pin.Scan(name, content)
		pinned, err := pin.Apply(content, pinAll(first))
		if err != nil {
			t.Fatal(err)
		}
		second := pin.Scan(name, pinned)
		inserted := strings.Count(string(pinned), "\n") != strings.Count(string(content), "\n")
		type pinnedRef struct {
			Line int
			Ref  string
			Kind pin.Kind
		}
		var want, got []pinnedRef
		for _, f := range first {
			if f.Kind != pin.Skipped {
				want = append(want, pinnedRef{Line: f.Line, Ref: f.Ref.WithDigest(fuzzDigest), Kind: pin.Pinned})
			}
		}
		for _, f := range second {
			if f.Kind != pin.Skipped {
				kind := f.Kind
				if kind == pin.DigestOnly {
					kind = pin.Pinned
				}
				got = append(got, pinnedRef{Line: f.Line, Ref: f.Ref.Original, Kind: kind})
			}
		}
		if inserted {
			for i := range want {
				want[i].Line = 0
			}
			for i := range got {
				got[i].Line = 0
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("references after pinning (-want +got):\n%s", diff)
		}
	})
}
