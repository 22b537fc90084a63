// Command chartdocs writes a Helm chart's README from its README.md.gotmpl,
// Chart.yaml and the comments of its values.yaml:
//
//	go run ./hack/chartdocs charts/tagpin charts/tagpin/README.md
//
// A value is documented by a comment starting with "# --" above its key
// (continued on the next comment lines); an undocumented mapping is
// documented key by key. It fails when a value has no description, or
// when values.schema.json does not describe it, so the README and the
// schema cover every value.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: chartdocs CHART_DIR OUTPUT_FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "chartdocs:", err)
		os.Exit(1)
	}
}

func run(chartDir, out string) error {
	var chart struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Version     string `yaml:"version"`
		AppVersion  string `yaml:"appVersion"`
		KubeVersion string `yaml:"kubeVersion"`
	}
	if err := readYAML(filepath.Join(chartDir, "Chart.yaml"), &chart); err != nil {
		return err
	}
	var values yaml.Node
	if err := readYAML(filepath.Join(chartDir, "values.yaml"), &values); err != nil {
		return err
	}
	schemaPath := filepath.Join(chartDir, "values.schema.json")
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	var schema schemaNode
	if err := json.Unmarshal(raw, &schema); err != nil {
		return fmt.Errorf("reading %s: %w", schemaPath, err)
	}
	if len(values.Content) != 1 || values.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s/values.yaml: not a mapping", chartDir)
	}
	rows, err := document(values.Content[0], "", &schema)
	if err != nil {
		return fmt.Errorf("%s/values.yaml: %w", chartDir, err)
	}
	tmplPath := filepath.Join(chartDir, "README.md.gotmpl")
	tmplText, err := os.ReadFile(tmplPath)
	if err != nil {
		return err
	}
	tmpl, err := template.New(filepath.Base(tmplPath)).Option("missingkey=error").Parse(string(tmplText))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, map[string]any{
		"Name":        chart.Name,
		"Description": strings.TrimSpace(chart.Description),
		"Version":     chart.Version,
		"AppVersion":  chart.AppVersion,
		"KubeVersion": chart.KubeVersion,
		"Values":      table(rows),
	})
	if err != nil {
		return fmt.Errorf("%s: %w", tmplPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func readYAML(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// row is one documented value.
type row struct {
	key, typ, def, desc string
}

// schemaNode is the part of a JSON schema chartdocs follows.
type schemaNode struct {
	Properties map[string]*schemaNode `json:"properties"`
	// AdditionalProperties is false, a schema, or absent (any key).
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
}

// child returns the schema of key, or an error when the schema does not
// allow it. A nil schema (an object the schema leaves open) allows any.
func (s *schemaNode) child(key string) (*schemaNode, error) {
	if s == nil {
		return nil, nil
	}
	if c, ok := s.Properties[key]; ok {
		return c, nil
	}
	if string(s.AdditionalProperties) == "false" {
		return nil, errors.New("not in values.schema.json")
	}
	return nil, nil
}

// document returns the rows of the mapping m, whose keys are under
// prefix, checking each key against schema.
func document(m *yaml.Node, prefix string, schema *schemaNode) ([]row, error) {
	var rows []row
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := prefix + k.Value
		sub, err := schema.child(k.Value)
		if err != nil {
			return nil, fmt.Errorf("value %s (line %d): %w", key, k.Line, err)
		}
		if err := inSchema(v, key, sub); err != nil {
			return nil, err
		}
		desc, ok := description(k.HeadComment)
		switch {
		case ok:
			def, err := defaultOf(v)
			if err != nil {
				return nil, fmt.Errorf("value %s (line %d): %w", key, k.Line, err)
			}
			rows = append(rows, row{key: key, typ: typeOf(v), def: def, desc: desc})
		case v.Kind == yaml.MappingNode && len(v.Content) > 0:
			sub, err := document(v, key+".", sub)
			if err != nil {
				return nil, err
			}
			rows = append(rows, sub...)
		default:
			return nil, fmt.Errorf("value %s (line %d) has no description: add a comment starting with \"# --\" above it", key, k.Line)
		}
	}
	return rows, nil
}

// inSchema checks that every key under the mapping v is in schema.
func inSchema(v *yaml.Node, key string, schema *schemaNode) error {
	if v.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i]
		sub, err := schema.child(k.Value)
		if err != nil {
			return fmt.Errorf("value %s.%s (line %d): %w", key, k.Value, k.Line, err)
		}
		if err := inSchema(v.Content[i+1], key+"."+k.Value, sub); err != nil {
			return err
		}
	}
	return nil
}

// description returns the text of the last "# --" comment block of a
// head comment.
func description(comment string) (string, bool) {
	lines := strings.Split(comment, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "# --") {
			start = i
		}
	}
	if start < 0 {
		return "", false
	}
	parts := []string{strings.TrimSpace(strings.TrimPrefix(lines[start], "# --"))}
	for _, l := range lines[start+1:] {
		if !strings.HasPrefix(l, "#") {
			break
		}
		parts = append(parts, strings.TrimSpace(strings.TrimPrefix(l, "#")))
	}
	return strings.Join(parts, " "), true
}

func typeOf(v *yaml.Node) string {
	switch v.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "list"
	}
	switch v.ShortTag() {
	case "!!int":
		return "int"
	case "!!bool":
		return "bool"
	case "!!float":
		return "float"
	}
	return "string"
}

// defaultOf renders a value as compact JSON.
func defaultOf(v *yaml.Node) (string, error) {
	var x any
	if err := v.Decode(&x); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return "", err
	}
	return strings.TrimSpace(buf.String()), nil
}

// table renders rows as a Markdown table.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", r.key, r.typ, cell(r.def), cell(r.desc))
	}
	return b.String()
}

// cell escapes the pipes that would end a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
