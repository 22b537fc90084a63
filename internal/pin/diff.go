package pin

import (
	"bytes"
	"fmt"
	"io"
)

// diffContext is the number of unchanged lines around each change.
const diffContext = 3

// writeDiff writes a unified diff between before and after, the content
// of the file name before and after pinning. Pinning replaces text within
// lines and never adds or removes one, so line i of before corresponds to
// line i of after; writeDiff relies on that and writes nothing when they are
// equal.
func writeDiff(w io.Writer, name string, before, after []byte) error {
	a, b := splitLines(before), splitLines(after)
	if len(a) != len(b) {
		return fmt.Errorf("diffing %s: pinning changed the number of lines from %d to %d", name, len(a), len(b))
	}
	var changed []int
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			changed = append(changed, i)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "--- %s\n+++ %s\n", name, name)
	for len(changed) > 0 {
		// A hunk takes changes whose unchanged gap is at most two contexts.
		n := 1
		for n < len(changed) && changed[n]-changed[n-1]-1 <= 2*diffContext {
			n++
		}
		from, to := max(0, changed[0]-diffContext), min(len(a), changed[n-1]+diffContext+1)
		fmt.Fprintf(&buf, "@@ -%s +%s @@\n", hunkRange(from, to), hunkRange(from, to))
		for i := from; i < to; {
			if bytes.Equal(a[i], b[i]) {
				writeDiffLine(&buf, ' ', a[i])
				i++
				continue
			}
			j := i
			for j < to && !bytes.Equal(a[j], b[j]) {
				j++
			}
			for _, l := range a[i:j] {
				writeDiffLine(&buf, '-', l)
			}
			for _, l := range b[i:j] {
				writeDiffLine(&buf, '+', l)
			}
			i = j
		}
		changed = changed[n:]
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing the diff of %s: %w", name, err)
	}
	return nil
}

// hunkRange formats the 0-based lines [from, to) as a hunk range.
func hunkRange(from, to int) string {
	if to-from == 1 {
		return fmt.Sprint(from + 1)
	}
	return fmt.Sprintf("%d,%d", from+1, to-from)
}

func writeDiffLine(buf *bytes.Buffer, prefix byte, line []byte) {
	buf.WriteByte(prefix)
	buf.Write(line)
	if !bytes.HasSuffix(line, []byte("\n")) {
		buf.WriteString("\n\\ No newline at end of file\n")
	}
}

// splitLines splits content after every "\n"; the last line may lack one.
func splitLines(content []byte) [][]byte {
	var out [][]byte
	for len(content) > 0 {
		i := bytes.IndexByte(content, '\n') + 1
		if i == 0 {
			i = len(content)
		}
		out = append(out, content[:i])
		content = content[i:]
	}
	return out
}
