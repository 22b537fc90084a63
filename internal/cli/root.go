package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // something failed (a reference, a file, a flag)
	exitDrift   = 2 // --check found unpinned or stale references
)

// exitError carries an exit code through cobra. Its message, if any, has
// already been printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs tagpin with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	root := Command(stdio) //nolint:contextcheck // commands get ctx from ExecuteContext below, not at construction
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stdio.Err, "Error: %v\n", err)
	return exitFailure
}

// Command returns the tagpin command tree (also used to generate the
// reference docs).
func Command(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "tagpin",
		Short: "Pin container image tags to digests",
		Long: `tagpin keeps workloads on immutable image digests while people keep
writing tags: nginx:1.27 becomes nginx:1.27@sha256:…, name and tag exactly
as written.`,
		Version:           version(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
	}
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	root.AddCommand(newResolveCommand(stdio), newPinCommand(stdio), newHistoryCommand(stdio), newWebhookCommand(stdio))
	root.AddCommand(newStoreCommand(stdio), newFnCommand(stdio))
	root.AddCommand(newAuditCommand(stdio), newDiffCommand(stdio))
	// cobra's `completion bash|zsh|fish|powershell`, added now rather than
	// when the command runs, so that the reference docs list it too.
	root.InitDefaultCompletionCmd()
	return root
}

// stampedVersion is set at link time by the image build (hack/image):
// -ldflags=-X=github.com/tagpin/tagpin/internal/cli.stampedVersion=VERSION.
// It is never assigned at run time.
var stampedVersion string

func version() string {
	if stampedVersion != "" {
		return stampedVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// isTerminal reports whether w is a terminal (for progress output).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
