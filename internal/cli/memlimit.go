package cli

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the share of the container's memory limit that Go's
// garbage collector aims to stay under when GOMEMLIMIT is not set: the
// heap may otherwise grow to twice what it holds before a collection,
// which at 100k revision pins is the difference between ~220 and ~280 MiB.
const memoryLimitShare = 0.9

// cgroupMemoryLimit returns the memory limit of the cgroup the process
// runs in, read below root (/sys/fs/cgroup): cgroup v2's memory.max or
// v1's memory/memory.limit_in_bytes; 0 when there is none.
func cgroupMemoryLimit(root string) int64 {
	for _, file := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		// v1 writes a page-aligned math.MaxInt64 when there is no limit.
		if err != nil || n <= 0 || n >= math.MaxInt64/2 {
			return 0
		}
		return n
	}
	return 0
}

// applyMemoryLimit sets Go's soft memory limit to memoryLimitShare of the
// container's memory limit, unless GOMEMLIMIT says otherwise or there is
// no limit. It returns the limit it set, or 0.
func applyMemoryLimit(getenv func(string) string, root string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := cgroupMemoryLimit(root)
	if limit == 0 {
		return 0
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	return soft
}

// defaultGCPercent is the webhook's GOGC when the environment sets none.
// Go's default, 100, lets the heap grow to twice what is live before a
// collection; the webhook's live heap is mostly its informer caches,
// which stay, so at 100k revision pins and 50k tags collecting at 1.5
// times what is live keeps the RSS about 15% lower (≈240 MiB instead of
// ≈270–290 MiB in make bench) for a few percent more CPU.
const defaultGCPercent = 50

// applyGCPercent sets the garbage collector's target to
// defaultGCPercent unless GOGC says otherwise. It returns the value it
// set, or 0.
func applyGCPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}
