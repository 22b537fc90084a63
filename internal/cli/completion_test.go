package cli_test

import (
	"strings"
	"testing"
)

// TestCompletion: `tagpin completion SHELL` prints that shell's completion
// script, and the command is listed in the help.
func TestCompletion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shell string
		want  []string // lines the script must contain
	}{
		{shell: "bash", want: []string{"# bash completion V2 for tagpin", "complete -o default -F __start_tagpin tagpin"}},
		{shell: "zsh", want: []string{"#compdef tagpin", "compdef _tagpin tagpin"}},
		{shell: "fish", want: []string{"# fish completion for tagpin", "complete -c tagpin "}},
		{shell: "powershell", want: []string{"# powershell completion for tagpin", "Register-ArgumentCompleter -CommandName 'tagpin'"}},
	}
	for _, tc := range tests {
		t.Run(tc.shell, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := tagpin(t, "", "completion", tc.shell)
			if code != 0 || errOut != "" {
				t.Fatalf("tagpin completion %s: exit %d, stderr:\n%s", tc.shell, code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("tagpin completion %s: the script lacks %q; it begins:\n%s", tc.shell, w, firstLines(out, 5))
				}
			}
		})
	}
	t.Run("listed in the help", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := tagpin(t, "", "--help")
		if code != 0 || !strings.Contains(out, "\n  completion ") {
			t.Errorf("tagpin --help: exit %d, no completion command in:\n%s\nstderr: %s", code, out, errOut)
		}
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
