package layerfs

import "hash/maphash"

// pathIndex finds a node by its path: an open-addressing hash table of
// node numbers (linear probing, backward-shift deletion), 4 bytes a slot,
// where a map[string]int32 would take about ten times as much. The paths
// themselves are the nodes'.
type pathIndex struct {
	seed  maphash.Seed
	slots []int32 // 0 is empty: node 0, the root, is never indexed
	n     int
}

func newPathIndex() pathIndex {
	return pathIndex{seed: maphash.MakeSeed(), slots: make([]int32, 16)}
}

func (x *pathIndex) home(p string) int {
	return int(maphash.String(x.seed, p) & uint64(len(x.slots)-1))
}

// get returns the node at path p.
func (x *pathIndex) get(nodes []node, p string) (int32, bool) {
	mask := len(x.slots) - 1
	for j := x.home(p); ; j = (j + 1) & mask {
		i := x.slots[j]
		if i == 0 {
			return 0, false
		}
		if nodes[i].path == p {
			return i, true
		}
	}
}

// put indexes node i, whose path is not indexed yet.
func (x *pathIndex) put(nodes []node, i int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]int32, 2*len(old))
		for _, k := range old {
			if k != 0 {
				x.insert(nodes, k)
			}
		}
	}
	x.insert(nodes, i)
	x.n++
}

func (x *pathIndex) insert(nodes []node, i int32) {
	mask := len(x.slots) - 1
	j := x.home(nodes[i].path)
	for x.slots[j] != 0 {
		j = (j + 1) & mask
	}
	x.slots[j] = i
}

// del removes node i, indexed under its path, and moves back the entries
// after it that its slot kept away from their home.
func (x *pathIndex) del(nodes []node, i int32) {
	mask := len(x.slots) - 1
	j := x.home(nodes[i].path)
	for x.slots[j] != i {
		j = (j + 1) & mask
	}
	x.slots[j] = 0
	x.n--
	for k := (j + 1) & mask; x.slots[k] != 0; k = (k + 1) & mask {
		h := x.home(nodes[x.slots[k]].path)
		// Move slots[k] into the hole at j when j lies between its home
		// and k (cyclically).
		if (k-h)&mask >= (k-j)&mask {
			x.slots[j], x.slots[k] = x.slots[k], 0
			j = k
		}
	}
}
