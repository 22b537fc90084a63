package cli_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/tagpin/tagpin/internal/registrytest"
)

// resourceList is a ResourceList as kustomize hands it to a function:
// items with kustomize's index and path annotations, comments and
// quoting kept, and a ConfigMap whose embedded Dockerfile is data.
// config is the rest of the functionConfig, indented.
func resourceList(web, base string, config string) string {
	return `apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: prod
    annotations:
      config.kubernetes.io/index: '0'
      internal.config.kubernetes.io/path: 'base/deploy.yaml'
  spec:
    template:
      spec:
        initContainers:
        - name: init
          image: "` + base + `"
        containers:
        - name: web
          image: ` + web + `   # the app
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: build
  data:
    Dockerfile: |
      FROM ` + web + `
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: tagpin
` + config
}

// TestFn runs tagpin fn on ResourceLists: items pinned byte for byte,
// embedded data left alone, results for what needs attention, settings
// from the functionConfig.
func TestFn(t *testing.T) {
	reg := registrytest.New(t)
	web := reg.PushImage(t, "web:1.0")
	oldBase := reg.PushImage(t, "base:1")
	newBase := reg.PushImage(t, "base:1")
	flags := append([]string{"fn", "--no-record"}, regFlags(reg)...)
	stale := reg.Ref("base:1@" + oldBase.String())

	t.Run("pins items, keeps every other byte, warns of a stale pin", func(t *testing.T) {
		in := resourceList(reg.Ref("web:1.0"), stale, "")
		out, errOut, code := tagpin(t, in, flags...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, errOut)
		}
		body, results, _ := strings.Cut(out, "results:\n")
		want := strings.Replace(in, "image: "+reg.Ref("web:1.0")+"   #", "image: "+reg.Ref("web:1.0@"+web.String())+"   #", 1)
		if diff := cmp.Diff(want, body); diff != "" {
			t.Errorf("items (-want +got):\n%s", diff)
		}
		var got []map[string]any
		if err := yaml.Unmarshal([]byte(results), &got); err != nil {
			t.Fatalf("results: %v\n%s", err, results)
		}
		wantResults := []map[string]any{{
			"message":     stale + ": the tag now points at " + newBase.String() + "; run with --update to refresh the pin",
			"severity":    "warning",
			"resourceRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "prod"},
			"field":       map[string]any{"path": "spec.template.spec.initContainers[0].image"},
			"file":        map[string]any{"path": "base/deploy.yaml", "index": 0},
		}}
		if diff := cmp.Diff(wantResults, got); diff != "" {
			t.Errorf("results (-want +got):\n%s", diff)
		}
	})

	t.Run("functionConfig data sets flags", func(t *testing.T) {
		in := resourceList(reg.Ref("web:1.0"), stale, "  data:\n    update: \"true\"\n")
		out, errOut, code := tagpin(t, in, flags...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, errOut)
		}
		want := strings.Replace(in, stale, reg.Ref("base:1@"+newBase.String()), 1)
		want = strings.Replace(want, "image: "+reg.Ref("web:1.0")+"   #", "image: "+reg.Ref("web:1.0@"+web.String())+"   #", 1)
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})

	t.Run("a failure is an error result and exit 1", func(t *testing.T) {
		in := resourceList(reg.Ref("gone:1"), reg.Ref("base:1"), "")
		out, errOut, code := tagpin(t, in, flags...)
		if want := "tagpin fn: Deployment prod/web spec.template.spec.containers[0].image: " + reg.Ref("gone:1") + ": resolving"; code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
		}
		var list struct {
			Results []struct {
				Message, Severity string
				Field             struct{ Path string }
			}
		}
		if err := yaml.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Results) != 1 || list.Results[0].Severity != "error" || list.Results[0].Field.Path != "spec.template.spec.containers[0].image" ||
			!strings.Contains(list.Results[0].Message, reg.Ref("gone:1")) {
			t.Errorf("results = %+v, want one error on the web container's image", list.Results)
		}
		if !strings.Contains(out, reg.Ref("base:1@")) {
			t.Errorf("the other image was not pinned:\n%s", out)
		}
	})

	t.Run("results of an earlier function are kept", func(t *testing.T) {
		in := resourceList(reg.Ref("web:1.0"), stale, "") + "results:\n- message: from kubeval\n  severity: info\n"
		out, errOut, code := tagpin(t, in, flags...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, errOut)
		}
		var list struct{ Results []struct{ Message string } }
		if err := yaml.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Results) != 2 || list.Results[0].Message != "from kubeval" {
			t.Errorf("results = %+v, want kubeval's then tagpin's", list.Results)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		in := `{"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "` + reg.Ref("web:1.0") + `"}]}}]}`
		out, errOut, code := tagpin(t, in, flags...)
		if want := strings.Replace(in, reg.Ref("web:1.0"), reg.Ref("web:1.0@"+web.String()), 1); code != 0 || out != want {
			t.Errorf("exit %d, output %s, want %s; stderr %s", code, out, want, errOut)
		}
	})

	for _, tc := range []struct{ name, in, want string }{
		{"not YAML", "items: [", "stdin is not a ResourceList"},
		{"not a ResourceList", "apiVersion: v1\nkind: Pod\n", `stdin is an object of kind "Pod", not a ResourceList`},
		{"unknown setting", resourceList("a:1", "b:1", "  data:\n    refresh: \"true\"\n"), `functionConfig data: "refresh" is not a setting of tagpin fn`},
		{"bad setting", resourceList("a:1", "b:1", "  data:\n    update: \"sometimes\"\n"), "functionConfig data: update:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := tagpin(t, tc.in, flags...)
			if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, and %q", code, out, errOut, tc.want)
			}
		})
	}
}
