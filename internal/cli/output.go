package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// outputFlag validates -o/--output values.
func checkOutput(o string) error {
	switch o {
	case "", "text", "json":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use text or json", o)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // <your-image> stays readable
	return enc.Encode(v)
}
