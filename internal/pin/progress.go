package pin

import (
	"fmt"
	"io"
	"time"
)

// progress writes short status lines over one another on a terminal.
// It is silent when w is nil.
type progress struct {
	w     io.Writer
	last  time.Time
	shown bool
}

// progressInterval limits how often a line is redrawn.
const progressInterval = 100 * time.Millisecond

// printf redraws the line, at most every progressInterval unless force.
func (p *progress) printf(force bool, format string, args ...any) {
	if p.w == nil || !force && time.Since(p.last) < progressInterval {
		return
	}
	p.last, p.shown = time.Now(), true
	fmt.Fprintf(p.w, "\r"+format+"\x1b[K", args...)
}

// clear erases the line, leaving the terminal as it was.
func (p *progress) clear() {
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
