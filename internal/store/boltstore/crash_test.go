package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/tagpin/tagpin/internal/store"
)

// The crash test re-executes the test binary as a child that writes to
// a store and says "ack N" after each write returns; the parent kills it
// with SIGKILL mid-stream and checks, with the file reopened, that every
// acknowledged write is there and that bbolt finds nothing wrong.
const (
	crashEnvPath  = "TAGPIN_BOLTSTORE_CRASH_PATH"
	crashEnvRound = "TAGPIN_BOLTSTORE_CRASH_ROUND"
	// crashAcks is how many acknowledgements the parent waits for before
	// it kills the child.
	crashAcks = 200
	// crashWrites bounds the child, should no one kill it.
	crashWrites = 100_000
	// crashRounds is how many children are killed writing to one file.
	crashRounds = 3
)

// crashKey is the distinct tag written in step i of a round.
func crashKey(round, i int) store.TagKey {
	return store.TagKey{Registry: "registry.example", Repository: fmt.Sprintf("round%d/app", round), Tag: fmt.Sprint("t", i)}
}

// crashMoving is the tag every step of a round moves, so its record is
// rewritten again and again.
func crashMoving(round int) store.TagKey {
	return store.TagKey{Registry: "registry.example", Repository: fmt.Sprintf("round%d/app", round), Tag: "moving"}
}

func crashPin(round, i int) store.RevisionKey {
	return store.RevisionKey{
		Namespace: "ns",
		Owner:     store.Owner{Kind: "ReplicaSet", Name: fmt.Sprint("web-", round), UID: fmt.Sprint("uid-", round)},
		Image:     fmt.Sprint("app:", i),
	}
}

// crashDigest is the digest of step i of a round, the step readable in
// it.
func crashDigest(round, i int) digest.Digest {
	return digest.Digest(fmt.Sprintf("sha256:%032x%032x", round, i))
}

// crashStep returns the step of a digest crashDigest made.
func crashStep(d digest.Digest) (int, error) {
	h, ok := strings.CutPrefix(string(d), "sha256:")
	if !ok || len(h) != 64 {
		return 0, fmt.Errorf("%s is not a digest of a step", d)
	}
	n, err := strconv.ParseInt(h[32:], 16, 64)
	return int(n), err
}

// TestCrashChild is the child process of TestCrash; run on its own, it
// skips.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvPath)
	if path == "" {
		t.Skip("the child process of TestCrash")
	}
	round, err := strconv.Atoi(os.Getenv(crashEnvRound))
	if err != nil {
		t.Fatal(err)
	}
	// The previous child is dead, so the lock is free; the timeout is
	// only a guard.
	s, err := Open(path, WithLockTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for i := range crashWrites {
		d, at := crashDigest(round, i), t0.Add(time.Duration(i)*time.Second)
		if _, err := s.Observe(ctx, crashKey(round, i), d, at, store.SourceCLI); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Observe(ctx, crashMoving(round), d, at, store.SourceRefresh); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PinRevision(ctx, crashPin(round, i), d); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %d\n", i)
	}
}

func TestCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tagpin.db")
	// A guard: a stuck child fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var acked []int // the last step acknowledged in each round
	for round := range crashRounds {
		acked = append(acked, killChild(ctx, t, path, round))
		checkAcked(t, path, acked)
	}
}

// killChild runs a child writing to path, kills it after crashAcks
// acknowledgements and returns the last step it acknowledged.
func killChild(ctx context.Context, t *testing.T, path string, round int) int {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvRound+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the child: %v", err)
	}
	last := -1
	var other []string
	for sc := bufio.NewScanner(out); last+1 < crashAcks && sc.Scan(); {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "ack %d", &n); err != nil {
			other = append(other, sc.Text())
			continue
		}
		if n != last+1 {
			t.Errorf("round %d: ack %d after ack %d", round, n, last)
		}
		last = n
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Logf("killing the child: %v", err)
	}
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	if last+1 < crashAcks {
		t.Fatalf("round %d: the child stopped after %d acks (%v, guard: %v)\nstdout:\n%s\nstderr:\n%s",
			round, last+1, err, ctx.Err(), strings.Join(other, "\n"), stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: the child was not killed by SIGKILL: %v\n%s", round, cmd.ProcessState, stderr.String())
	}
	return last
}

// checkAcked reopens the store at path and checks that every step
// acknowledged in each round is there, and that the file is sound.
func checkAcked(t *testing.T, path string, acked []int) {
	t.Helper()
	s, err := Open(path, WithLockTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("reopening after killing the child: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	for round, last := range acked {
		missing := 0
		for i := 0; i <= last; i++ {
			want := crashDigest(round, i)
			tag, err := s.Tag(ctx, crashKey(round, i))
			if err != nil || tag.Current() != want {
				missing++
				if missing <= 5 {
					t.Errorf("round %d step %d (acknowledged): Tag = %+v, %v; want %s", round, i, tag, err, want)
				}
			}
			if got, err := s.Revision(ctx, crashPin(round, i)); err != nil || got != want {
				missing++
				if missing <= 5 {
					t.Errorf("round %d step %d (acknowledged): Revision = %s, %v; want %s", round, i, got, err, want)
				}
			}
		}
		if missing > 0 {
			t.Errorf("round %d: %d acknowledged writes of %d missing", round, missing, 2*(last+1))
		}
		tag, err := s.Tag(ctx, crashMoving(round))
		if err != nil {
			t.Errorf("round %d: %v", round, err)
			continue
		}
		step, err := crashStep(tag.Current())
		if err != nil || step < last {
			t.Errorf("round %d: the moving tag points at %s (step %d, %v), want step %d or later", round, tag.Current(), step, err, last)
		}
		if round == len(acked)-1 {
			t.Logf("round %d: killed after %d acknowledged steps; step %d was on disk", round, last+1, step)
		}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check after the crash: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
