package layerfs

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPathIndex checks the hash table against a map over random inserts
// and deletes, many of them colliding.
func TestPathIndex(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	x := newPathIndex()
	nodes := []node{{}}
	want := map[string]int32{}
	var free []int32
	for step := range 200_000 {
		p := fmt.Sprintf("p%d", r.IntN(3000))
		i, ok := x.get(nodes, p)
		wi, wok := want[p]
		if ok != wok || i != wi {
			t.Fatalf("step %d: get(%q) = %d, %v; want %d, %v", step, p, i, ok, wi, wok)
		}
		if ok {
			x.del(nodes, i)
			delete(want, p)
			nodes[i] = node{}
			free = append(free, i)
			continue
		}
		if k := len(free); k > 0 {
			i, free = free[k-1], free[:k-1]
			nodes[i].path = p
		} else {
			i = int32(len(nodes))
			nodes = append(nodes, node{path: p})
		}
		x.put(nodes, i)
		want[p] = i
	}
	if x.n != len(want) {
		t.Errorf("n = %d, want %d", x.n, len(want))
	}
	for p, wi := range want {
		if i, ok := x.get(nodes, p); !ok || i != wi {
			t.Errorf("get(%q) = %d, %v; want %d", p, i, ok, wi)
		}
	}
}
