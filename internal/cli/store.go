package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/spf13/pflag"

	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
	"github.com/tagpin/tagpin/internal/track"
)

// storeFlags select the local store (and, for resolve and pin, whether
// to record into it).
type storeFlags struct {
	path     string
	noRecord bool
	// existingOnly records only into a store file that already exists.
	existingOnly bool
}

func (f *storeFlags) registerPath(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "store", "", "the local store file (default $XDG_CACHE_HOME/tagpin/store.db, i.e. ~/.cache/tagpin/store.db)")
}

func (f *storeFlags) registerRecord(fs *pflag.FlagSet) {
	f.registerPath(fs)
	fs.BoolVar(&f.noRecord, "no-record", false, "do not record resolved digests in the local store (see tagpin history)")
}

// file returns the store path: --store, or the default under the user's
// cache directory.
func (f *storeFlags) file() (string, error) {
	if f.path != "" {
		return f.path, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the default store: %w; pass --store PATH", err)
	}
	return filepath.Join(dir, "tagpin", "store.db"), nil
}

// open opens the local store.
func (f *storeFlags) open() (store.Store, error) {
	path, err := f.file()
	if err != nil {
		return nil, err
	}
	return boltstore.Open(path)
}

// recorder opens the local store for recording, or returns nil when
// recording is off (or existingOnly and there is no store file yet). Recording is a by-product: when the store cannot be
// opened (locked by a parallel run, say) the command goes on without it
// and says so on w.
func (f *storeFlags) recorder(w io.Writer) store.Store {
	if f.noRecord {
		return nil
	}
	if f.existingOnly {
		path, err := f.file()
		if err != nil {
			return nil
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	st, err := f.open()
	if err != nil {
		fmt.Fprintf(w, "warning: not recording history: %v\n", err)
		return nil
	}
	return st
}

// warnOnce prints the first recording failure of a command, so a broken
// store does not drown the output.
type warnOnce struct {
	w    io.Writer
	once sync.Once
}

func (o *warnOnce) warn(err error) {
	if err == nil {
		return
	}
	o.once.Do(func() { fmt.Fprintf(o.w, "warning: not recording history: %v\n", err) })
}

// tracker returns a tracker resolving with r and recording into the
// local store (unless --no-record), and a function that closes both.
// The CLI never falls back to a last-known digest: a pin must be what
// the registry says now.
func (f *storeFlags) tracker(r *resolve.Resolver, w io.Writer) (*track.Tracker, func()) {
	st := f.recorder(w)
	tr := track.New(r, st, store.SourceCLI, track.WithoutFallback())
	return tr, func() {
		r.Close()
		if st != nil {
			if err := st.Close(); err != nil {
				fmt.Fprintf(w, "warning: closing the store: %v\n", err)
			}
		}
	}
}
