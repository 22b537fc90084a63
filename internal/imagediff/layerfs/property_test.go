package layerfs_test

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// randomLayer writes a few random operations over a small set of paths,
// so that layers often touch the same paths. Like the layers image
// builders write, an entry comes after its parent directories.
func randomLayer(r *rand.Rand) []tf {
	dirs := []string{"a", "a/b", "c"}
	files := []string{"a/f", "a/b/g", "c/h", "i", "a/b"}
	var out []tf
	parents := func(p string) {
		for i := range len(p) {
			if p[i] == '/' {
				out = append(out, dir(p[:i+1]))
			}
		}
	}
	for range 1 + r.IntN(5) {
		switch r.IntN(7) {
		case 0, 1:
			e := file(files[r.IntN(len(files))], []string{"1", "2", "33"}[r.IntN(3)])
			parents(e.name)
			e.mode = []int64{0o644, 0o600}[r.IntN(2)]
			out = append(out, e)
		case 2:
			e := dir(dirs[r.IntN(len(dirs))] + "/")
			parents(e.name)
			e.mode = []int64{0o755, 0o700}[r.IntN(2)]
			out = append(out, e)
		case 3:
			e := symlink(files[r.IntN(len(files))], "i")
			parents(e.name)
			out = append(out, e)
		case 4:
			p := append(dirs, files...)[r.IntN(len(dirs)+len(files))]
			d, b := "", p
			for i := len(p) - 1; i >= 0; i-- {
				if p[i] == '/' {
					d, b = p[:i+1], p[i+1:]
					break
				}
			}
			parents(d + ".wh." + b)
			out = append(out, whiteout(d+".wh."+b))
		case 5:
			m := dirs[r.IntN(len(dirs))] + "/.wh..wh..opq"
			parents(m)
			out = append(out, tf{name: m, typ: tar.TypeReg})
		case 6:
			// Tar writers link to an entry of the same archive.
			var written []string
			for _, e := range out {
				if e.typ == tar.TypeReg && e.body != "" {
					written = append(written, e.name)
				}
			}
			if len(written) == 0 {
				continue
			}
			parents("c/link")
			out = append(out, hardlink("c/link", written[r.IntN(len(written))]))
		}
	}
	return out
}

// TestOverlayAgreesWithFinalTrees: for random layer stacks of two images
// sharing a base, what Diff says about overlays of the top layers agrees
// with what it says about the final trees: a change it reports without
// BaseUnknown is in the final diff as it is, and every change of a
// non-directory in the final diff is reported, or stands below a
// directory reported added, removed, changed in type or with BaseUnknown
// (the base's entries below it cannot be listed).
func TestOverlayAgreesWithFinalTrees(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 13))
	for run := range 2000 {
		var base, topA, topB [][]tf
		for range 1 + r.IntN(2) {
			base = append(base, randomLayer(r))
		}
		for range 1 + r.IntN(2) {
			topA = append(topA, randomLayer(r))
		}
		for range 1 + r.IntN(2) {
			topB = append(topB, randomLayer(r))
		}
		fullA, _ := build(t, false, append(append([][]tf{}, base...), topA...)...)
		fullB, _ := build(t, false, append(append([][]tf{}, base...), topB...)...)
		overA, _ := build(t, true, topA...)
		overB, _ := build(t, true, topB...)
		full := map[string]layerfs.Change{}
		for _, c := range layerfs.Diff(fullA, fullB, layerfs.DiffOptions{}) {
			full[c.Path] = c
		}
		over := map[string]layerfs.Change{}
		for _, c := range layerfs.Diff(overA, overB, layerfs.DiffOptions{}) {
			over[c.Path] = c
		}
		describe := func() string {
			return fmt.Sprintf("run %d\nbase %v\ntopA %v\ntopB %v\nfull %v\noverlay %v", run, base, topA, topB, summary(full), summary(over))
		}
		for p, c := range over {
			if c.BaseUnknown {
				continue
			}
			f, ok := full[p]
			if !ok {
				t.Fatalf("%s: overlay reports %s %v, final trees no change\n%s", p, c.Kind, c.Fields, describe())
			}
			if diff := cmp.Diff([]any{c.Kind, c.Fields}, []any{f.Kind, f.Fields}); diff != "" {
				t.Fatalf("%s: overlay and final trees differ (-overlay +final):\n%s\n%s", p, diff, describe())
			}
		}
		for p, f := range full {
			if f.Before != nil && f.Before.Type == layerfs.Dir || f.After != nil && f.After.Type == layerfs.Dir {
				continue
			}
			if !covered(over, p) {
				t.Fatalf("%s: final trees report %s %v, overlay nothing\n%s", p, f.Kind, f.Fields, describe())
			}
		}
	}
}

func summary(m map[string]layerfs.Change) []string {
	var out []string
	for p, c := range m {
		out = append(out, fmt.Sprintf("%s:%s%v%v", p, c.Kind, c.Fields, map[bool]string{true: "?", false: ""}[c.BaseUnknown]))
	}
	return out
}

func covered(over map[string]layerfs.Change, p string) bool {
	if _, ok := over[p]; ok {
		return true
	}
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			if c, ok := over[p[:i]]; ok && (c.BaseUnknown || c.Kind != layerfs.Changed || slices.Contains(c.Fields, "type")) {
				return true
			}
		}
	}
	return false
}
