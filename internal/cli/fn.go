package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/tagpin/tagpin/internal/pin"
)

// fnStdinName makes pin scan a ResourceList with the rules of YAML files
// only: FROM lines in a ConfigMap's embedded Dockerfile are data.
const fnStdinName = "resourcelist.yaml"

func newFnCommand(stdio IO) *cobra.Command {
	var (
		reg    registryFlags
		st     storeFlags
		update bool
	)
	cmd := &cobra.Command{
		Use:   "fn [flags]",
		Short: "Pin images as a KRM function (kustomize, kpt)",
		Long: `Fn is tagpin as a KRM function: it reads a ResourceList on stdin, pins
the image references of its items to name:tag@sha256:… as tagpin pin does
(image: keys, Helm-style image maps per tagpin pin's rules), and writes the
ResourceList to stdout with every other byte as it was. What needs
attention is reported in the ResourceList's results: a reference that
failed to resolve is an error (and the exit status is 1), a stale pin a
warning, a skipped one information.

Settings come from the flags (kustomize's exec functions take args) or
from the functionConfig's data, where each key is a flag name
(update: "true", insecure-registry: "registry.internal:5000"), which is
what kpt fn eval -- KEY=VALUE passes. Flags given on the command line win.

kustomize (with --enable-alpha-plugins --enable-exec), a transformer:

  apiVersion: tagpin.dev/v1alpha1
  kind: Pin
  metadata:
    name: pin
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: /usr/local/bin/tagpin
          args: [fn]

kpt: kpt fn eval --exec ./tagpin-fn -- update=true (tagpin-fn: a script
running tagpin fn "$@").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := io.ReadAll(stdio.In)
			if err != nil {
				return fmt.Errorf("reading the ResourceList from stdin: %w", err)
			}
			list, err := parseResourceList(in)
			if err != nil {
				return err
			}
			if err := applyFunctionConfig(cmd.Flags(), list.config); err != nil {
				return err
			}
			r, err := reg.resolver(nil)
			if err != nil {
				return err
			}
			tr, closeAll := st.tracker(r, stdio.Err)
			defer closeAll()
			var out bytes.Buffer
			report, err := pin.Run(cmd.Context(), []string{"-"}, resolveFunc(tr, &warnOnce{w: stdio.Err}), pin.Options{
				Update: update, Stdin: bytes.NewReader(in), Stdout: &out, StdinName: fnStdinName,
			})
			if err != nil {
				return err
			}
			addHints(report)
			results := list.results(report)
			pinned, err := withResults(out.Bytes(), results)
			if err != nil {
				return err
			}
			if _, err := stdio.Out.Write(pinned); err != nil {
				return err
			}
			if report.Failed > 0 {
				// kustomize shows a failed function's stderr, not its
				// results: the errors go to both.
				for _, res := range results {
					if res.Severity == "error" {
						fmt.Fprintf(stdio.Err, "tagpin fn: %s%s\n", res.where(), res.Message)
					}
				}
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	reg.registerServer(cmd.Flags())
	cmd.Flags().DurationVar(&reg.timeout, "timeout", 10*time.Second, "time limit for resolving one reference, retries included")
	st.registerRecord(cmd.Flags())
	cmd.Flags().BoolVar(&update, "update", false, "also refresh existing pins whose tag now points at another digest")
	return cmd
}

// resourceList is what fn needs of its input: the items, with the lines
// they span and what identifies them, and the functionConfig's data.
type resourceList struct {
	items  []listItem
	config map[string]string
}

// listItem is one item of a ResourceList.
type listItem struct {
	node        *yaml.Node
	first, last int // lines of the input it spans
	ref         resultRef
	file        string // config.kubernetes.io/path, when set
	index       int    // config.kubernetes.io/index, when hasIndex
	hasFile     bool
	hasIndex    bool
}

// resultRef identifies the object a result is about.
type resultRef struct {
	APIVersion string `yaml:"apiVersion,omitempty"`
	Kind       string `yaml:"kind,omitempty"`
	Name       string `yaml:"name,omitempty"`
	Namespace  string `yaml:"namespace,omitempty"`
}

// fnResult is one entry of a ResourceList's results, as the KRM
// functions specification defines it.
type fnResult struct {
	Message     string     `yaml:"message"`
	Severity    string     `yaml:"severity"`
	ResourceRef *resultRef `yaml:"resourceRef,omitempty"`
	Field       *struct {
		Path string `yaml:"path"`
	} `yaml:"field,omitempty"`
	File *struct {
		Path  string `yaml:"path,omitempty"`
		Index *int   `yaml:"index,omitempty"`
	} `yaml:"file,omitempty"`
}

// where names the object and field of r, when known: "Deployment
// prod/web spec.template.spec.containers[0].image: ".
func (r fnResult) where() string {
	if r.ResourceRef == nil {
		return ""
	}
	name := r.ResourceRef.Name
	if r.ResourceRef.Namespace != "" {
		name = r.ResourceRef.Namespace + "/" + name
	}
	w := r.ResourceRef.Kind + " " + name
	if r.Field != nil {
		w += " " + r.Field.Path
	}
	return w + ": "
}

// parseResourceList checks that in is a ResourceList and indexes it.
func parseResourceList(in []byte) (*resourceList, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, fmt.Errorf("stdin is not a ResourceList: %w; tagpin fn runs as a kustomize or kpt function (tagpin pin - pins plain YAML)", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("stdin is not a ResourceList (an object of kind ResourceList); tagpin fn runs as a kustomize or kpt function (tagpin pin - pins plain YAML)")
	}
	root := doc.Content[0]
	if kind := scalar(root, "kind"); kind != "ResourceList" {
		return nil, fmt.Errorf("stdin is an object of kind %q, not a ResourceList; tagpin fn runs as a kustomize or kpt function (tagpin pin - pins plain YAML)", kind)
	}
	list := &resourceList{config: map[string]string{}}
	if items := value(root, "items"); items != nil && items.Kind == yaml.SequenceNode {
		for i, n := range items.Content {
			it := listItem{node: n, first: n.Line, last: int(^uint(0) >> 1)}
			if i+1 < len(items.Content) {
				it.last = items.Content[i+1].Line - 1
			} else if next := nextKeyLine(root, "items"); next > 0 {
				it.last = next - 1
			}
			it.ref = resultRef{APIVersion: scalar(n, "apiVersion"), Kind: scalar(n, "kind")}
			if meta := value(n, "metadata"); meta != nil {
				it.ref.Name, it.ref.Namespace = scalar(meta, "name"), scalar(meta, "namespace")
				if ann := value(meta, "annotations"); ann != nil {
					for _, key := range []string{"config.kubernetes.io/path", "internal.config.kubernetes.io/path"} {
						if p := scalar(ann, key); p != "" {
							it.file, it.hasFile = p, true
						}
					}
					for _, key := range []string{"config.kubernetes.io/index", "internal.config.kubernetes.io/index"} {
						if x, err := strconv.Atoi(scalar(ann, key)); err == nil {
							it.index, it.hasIndex = x, true
						}
					}
				}
			}
			list.items = append(list.items, it)
		}
	}
	if cfg := value(root, "functionConfig"); cfg != nil {
		if data := value(cfg, "data"); data != nil && data.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(data.Content); i += 2 {
				list.config[data.Content[i].Value] = data.Content[i+1].Value
			}
		}
	}
	return list, nil
}

// value returns the value of key in the mapping n, or nil.
func value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalar returns the scalar value of key in the mapping n, or "".
func scalar(n *yaml.Node, key string) string {
	if v := value(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// nextKeyLine returns the line of the key after key in the mapping n, or
// 0 when key is the last one.
func nextKeyLine(n *yaml.Node, key string) int {
	for i := 0; i+2 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+2].Line
		}
	}
	return 0
}

// applyFunctionConfig sets the flags named by the keys of data that were
// not given on the command line.
func applyFunctionConfig(fs *pflag.FlagSet, data map[string]string) error {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == "help" {
			return fmt.Errorf("functionConfig data: %q is not a setting of tagpin fn; use the name of one of its flags (tagpin fn --help)", k)
		}
		if f.Changed {
			continue
		}
		if err := fs.Set(k, data[k]); err != nil {
			return fmt.Errorf("functionConfig data: %s: %w", k, err)
		}
	}
	return nil
}

// results turns the report's items into results on the items they are
// in: errors for failures, warnings for stale pins, information for
// references left alone.
func (l *resourceList) results(r *pin.Report) []fnResult {
	var out []fnResult
	for _, it := range r.Items {
		var sev string
		switch it.Action {
		case "failed":
			sev = "error"
		case "stale":
			sev = "warning"
		case "skipped":
			sev = "info"
		default:
			continue
		}
		msg := it.Message
		if it.Ref != "" {
			msg = it.Ref + ": " + msg
		}
		res := fnResult{Message: msg, Severity: sev}
		if i := slices.IndexFunc(l.items, func(x listItem) bool { return x.first <= it.Line && it.Line <= x.last }); i >= 0 {
			item := l.items[i]
			ref := item.ref
			res.ResourceRef = &ref
			if p := fieldPath(item.node, it.Line); p != "" {
				res.Field = &struct {
					Path string `yaml:"path"`
				}{p}
			}
			if item.hasFile || item.hasIndex {
				res.File = &struct {
					Path  string `yaml:"path,omitempty"`
					Index *int   `yaml:"index,omitempty"`
				}{Path: item.file}
				if item.hasIndex {
					x := item.index
					res.File.Index = &x
				}
			}
		}
		out = append(out, res)
	}
	return out
}

// fieldPath returns the path (spec.containers[0].image) of the scalar
// on line in n, or "".
func fieldPath(n *yaml.Node, line int) string {
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if v.Kind == yaml.ScalarNode && v.Line == line {
					return p
				}
				if found := walk(v, p); found != "" {
					return found
				}
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if v.Kind == yaml.ScalarNode && v.Line == line {
					return p
				}
				if found := walk(v, p); found != "" {
					return found
				}
			}
		}
		return ""
	}
	return walk(n, "")
}

// withResults returns the ResourceList doc with results appended under
// a top-level results key, touching no other byte; when doc already has
// results (a function before this one), they are added to those.
func withResults(doc []byte, results []fnResult) ([]byte, error) {
	if len(results) == 0 {
		return doc, nil
	}
	var parsed yaml.Node
	if err := yaml.Unmarshal(doc, &parsed); err != nil {
		return nil, fmt.Errorf("the pinned ResourceList does not parse: %w", err)
	}
	root := parsed.Content[0]
	if existing := value(root, "results"); existing != nil || root.Style&yaml.FlowStyle != 0 || isJSON(doc) {
		// Rare (results from a function before, or JSON): merge in the
		// tree and encode it whole, as YAML.
		var add yaml.Node
		if err := add.Encode(results); err != nil {
			return nil, err
		}
		if existing != nil && existing.Kind == yaml.SequenceNode {
			existing.Content = append(existing.Content, add.Content...)
		} else {
			root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "results"}, &add)
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&parsed); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(map[string][]fnResult{"results": results}); err != nil {
		return nil, err
	}
	out := bytes.TrimRight(doc, "\n")
	out = bytes.TrimSuffix(out, []byte("\n..."))
	return append(append(append([]byte(nil), out...), '\n'), b.Bytes()...), nil
}

// isJSON reports whether doc is written as JSON (an object in braces).
func isJSON(doc []byte) bool {
	return strings.HasPrefix(strings.TrimSpace(string(doc)), "{")
}
