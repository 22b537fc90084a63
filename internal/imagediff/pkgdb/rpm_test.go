package pkgdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parseRPMFile parses the rpm database file at name.
func parseRPMFile(t testing.TB, kind Kind, name string) ([]Package, error) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return ParseRPM(kind, bytes.NewReader(b), int64(len(b)))
}

func sortPackages(ps []Package) {
	slices.SortFunc(ps, func(a, b Package) int {
		return strings.Compare(a.Name+" "+a.Version, b.Name+" "+b.Version)
	})
}

var (
	rpmHello = Package{RPM, "hello", "1.0-1", "noarch", "hello"}
	rpmWorld = Package{RPM, "world", "2:2.3~rc1-4", "noarch", "world"}
)

func TestParseRPMFiles(t *testing.T) {
	t.Parallel()
	var overflow []Package
	for i := range 64 { // rows 1..64 alternate world/hello; rows ≡ 3 mod 7 were deleted
		if (i+1)%7 == 3 {
			continue
		}
		overflow = append(overflow, []Package{rpmWorld, rpmHello}[i%2])
	}
	sortPackages(overflow)
	tests := []struct {
		name string
		kind Kind
		file string
		want []Package
	}{
		{"sqlite made by rpm", RPMSQLite, "testdata/rpm/rpmdb.sqlite", []Package{rpmHello, rpmWorld}},
		{"sqlite with overflow and interior pages", RPMSQLite, "testdata/rpm/overflow.sqlite", overflow},
		{"sqlite, minimal", RPMSQLite, "testdata/rpm/tiny.sqlite", []Package{{RPM, "tiny", "1.0-1", "noarch", ""}}},
		{"berkeley db hash", RPMBerkeleyDB, "testdata/rpm/Packages", []Package{{RPM, "libuuid", "2.32.1-42.el8_8", "x86_64", "util-linux"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseRPMFile(t, tt.kind, tt.file)
			if err != nil {
				t.Fatalf("ParseRPM(%s): %v", tt.file, err)
			}
			sortPackages(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRPM(%s) (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

// sqliteBlobs returns the header blobs of an rpmdb.sqlite file.
func sqliteBlobs(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openSQLite(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := db.tableRoot("Packages")
	if err != nil {
		t.Fatal(err)
	}
	var blobs [][]byte
	err = db.walkTable(root, func(_ int64, payload []byte) error {
		cols, err := record(payload)
		if err != nil {
			return err
		}
		blobs = append(blobs, cols[1].bytes)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return blobs
}

// ndbFile lays blobs out in rpm's NDB format; a nil blob leaves a free slot.
func ndbFile(blobs [][]byte) []byte {
	le := binary.LittleEndian
	out := make([]byte, ndbPageSize)
	le.PutUint32(out[0:], ndbMagic)
	le.PutUint32(out[12:], 1) // one slot page
	le.PutUint32(out[16:], uint32(len(blobs)+1))
	for off := ndbHeaderSize; off < ndbPageSize; off += ndbSlotSize {
		le.PutUint32(out[off:], ndbSlotMagic)
	}
	for i, b := range blobs {
		if b == nil {
			continue
		}
		slot := out[ndbHeaderSize+i*ndbSlotSize:]
		blk := len(out) / ndbBlockSize
		var rec []byte
		rec = le.AppendUint32(rec, ndbBlobMagic)
		rec = le.AppendUint32(rec, uint32(i+1))
		rec = le.AppendUint32(rec, 1) // generation
		rec = le.AppendUint32(rec, uint32(len(b)))
		rec = append(rec, b...)
		rec = le.AppendUint32(rec, 'B'|'l'<<8|'b'<<16|'E'<<24)
		rec = le.AppendUint32(rec, 0) // checksum, not checked
		rec = le.AppendUint32(rec, uint32(len(b)))
		for len(rec)%ndbBlockSize != 0 {
			rec = append(rec, 0)
		}
		le.PutUint32(slot[4:], uint32(i+1))
		le.PutUint32(slot[8:], uint32(blk))
		le.PutUint32(slot[12:], uint32(len(rec)/ndbBlockSize))
		out = append(out, rec...)
	}
	return out
}

func TestParseRPMNDB(t *testing.T) {
	t.Parallel()
	blobs := sqliteBlobs(t, "testdata/rpm/rpmdb.sqlite")
	file := ndbFile([][]byte{blobs[0], nil, blobs[1]})
	got, err := ParseRPM(RPMNDB, bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatalf("ParseRPM(ndb): %v", err)
	}
	sortPackages(got)
	if diff := cmp.Diff([]Package{rpmHello, rpmWorld}, got); diff != "" {
		t.Errorf("ParseRPM(ndb) (-want +got):\n%s", diff)
	}
}

// TestParseRPMMadeByRPM builds two packages with rpmbuild, installs them
// into a fresh database with rpm, and reads that database back.
func TestParseRPMMadeByRPM(t *testing.T) {
	t.Parallel()
	rpm, err1 := exec.LookPath("rpm")
	rpmbuild, err2 := exec.LookPath("rpmbuild")
	if err := errors.Join(err1, err2); err != nil {
		t.Skipf("rpm and rpmbuild are needed (Debian package rpm): %v", err)
	}
	dir := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	specs := []struct{ name, version, release, epoch string }{
		{"alpha", "1.0", "1", ""},
		{"beta", "2.3~rc1", "4.el9", "2"},
	}
	for _, s := range specs {
		spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: %s\n", s.name, s.version, s.release)
		if s.epoch != "" {
			spec += "Epoch: " + s.epoch + "\n"
		}
		spec += "Summary: test\nLicense: MIT\nBuildArch: noarch\n%description\ntest\n%files\n"
		path := filepath.Join(dir, s.name+".spec")
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		run(rpmbuild, "--define", "_topdir "+filepath.Join(dir, "build"), "-bb", path)
	}
	rpms, err := filepath.Glob(filepath.Join(dir, "build", "RPMS", "noarch", "*.rpm"))
	if err != nil || len(rpms) != 2 {
		t.Fatalf("rpmbuild made %v (%v), want two packages", rpms, err)
	}
	dbpath := filepath.Join(dir, "db")
	if err := os.Mkdir(dbpath, 0o755); err != nil {
		t.Fatal(err)
	}
	define := []string{"--define", "_db_backend sqlite", "--dbpath", dbpath}
	run(rpm, append(define, append([]string{"-i", "--nodeps", "--justdb"}, rpms...)...)...)
	// rpm's own view of the database, in Package form.
	var want []Package
	q := run(rpm, append(define, "-qa", "--qf", "%{NAME} %{EPOCH} %{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\n")...)
	for _, line := range strings.Split(strings.TrimSpace(q), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 {
			t.Fatalf("rpm -qa printed %q", line)
		}
		v := f[2]
		if f[1] != "(none)" {
			v = f[1] + ":" + v
		}
		want = append(want, Package{RPM, f[0], v, f[3], sourceName(f[4])})
	}
	got, err := parseRPMFile(t, RPMSQLite, filepath.Join(dbpath, "rpmdb.sqlite"))
	if err != nil {
		t.Fatalf("ParseRPM: %v", err)
	}
	sortPackages(want)
	sortPackages(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseRPM (-rpm -qa +got):\n%s", diff)
	}
	if len(got) != 2 || got[1].Version != "2:2.3~rc1-4.el9" {
		t.Errorf("got %+v, want alpha and beta 2:2.3~rc1-4.el9", got)
	}
}

// rpmHeader builds a header blob from entries; strings are NUL-terminated
// into the data store unless raw data is given.
type rpmEntry struct {
	tag, typ, off, count uint32
}

func rpmHeaderBlob(entries []rpmEntry, data []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, e.tag)
		b = binary.BigEndian.AppendUint32(b, e.typ)
		b = binary.BigEndian.AppendUint32(b, e.off)
		b = binary.BigEndian.AppendUint32(b, e.count)
	}
	return append(b, data...)
}

func TestParseRPMHeader(t *testing.T) {
	t.Parallel()
	data := []byte("bash\x005.1.8\x006.el9\x00x86_64\x00bash-5.1.8-6.el9.src.rpm\x00\x00\x00\x00\x00\x00\x00\x01")
	good := []rpmEntry{
		{rpmTagName, rpmTypeString, 0, 1},
		{rpmTagVersion, rpmTypeString, 5, 1},
		{rpmTagRelease, rpmTypeString, 11, 1},
		{rpmTagArch, rpmTypeString, 17, 1},
		{rpmTagSourceRPM, rpmTypeString, 24, 1},
		{rpmTagEpoch, rpmTypeInt32, 52, 1},
		{9999, 7, 1 << 30, 1 << 30}, // unknown tags are not read
	}
	withMagic := append([]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}, rpmHeaderBlob(good, data)...)
	replace := func(i int, e rpmEntry) []rpmEntry {
		es := slices.Clone(good)
		es[i] = e
		return es
	}
	tests := []struct {
		name    string
		blob    []byte
		want    Package
		wantErr bool
	}{
		{name: "all tags", blob: rpmHeaderBlob(good, data), want: Package{RPM, "bash", "1:5.1.8-6.el9", "x86_64", "bash"}},
		{name: "with header magic", blob: withMagic, want: Package{RPM, "bash", "1:5.1.8-6.el9", "x86_64", "bash"}},
		{name: "no epoch", blob: rpmHeaderBlob(good[:5], data), want: Package{RPM, "bash", "5.1.8-6.el9", "x86_64", "bash"}},
		{name: "empty", blob: nil, wantErr: true},
		{name: "no entries", blob: rpmHeaderBlob(nil, data), wantErr: true},
		{name: "truncated data", blob: rpmHeaderBlob(good, data)[:40], wantErr: true},
		{name: "string offset beyond data", blob: rpmHeaderBlob(replace(0, rpmEntry{rpmTagName, rpmTypeString, 1 << 31, 1}), data), wantErr: true},
		{name: "unterminated string", blob: rpmHeaderBlob([]rpmEntry{{rpmTagName, rpmTypeString, 0, 1}}, []byte("bash")), wantErr: true},
		{name: "epoch beyond data", blob: rpmHeaderBlob(replace(5, rpmEntry{rpmTagEpoch, rpmTypeInt32, uint32(len(data) - 2), 1}), data), wantErr: true},
		{name: "epoch of the wrong type", blob: rpmHeaderBlob(replace(5, rpmEntry{rpmTagEpoch, rpmTypeString, 52, 1}), data), wantErr: true},
		{name: "name of the wrong type", blob: rpmHeaderBlob(replace(0, rpmEntry{rpmTagName, rpmTypeInt32, 0, 1}), data), wantErr: true},
		{name: "no name", blob: rpmHeaderBlob(good[1:], data), wantErr: true},
		{name: "huge counts", blob: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseRPMHeader(tt.blob)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("parseRPMHeader: got %+v, %v; want an error wrapping ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRPMHeader: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseRPMHeader (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRPMBadFiles(t *testing.T) {
	t.Parallel()
	read := func(name string) []byte {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sqlite := read("testdata/rpm/rpmdb.sqlite")
	overflow := read("testdata/rpm/overflow.sqlite")
	bdb := read("testdata/rpm/Packages")
	blobs := sqliteBlobs(t, "testdata/rpm/rpmdb.sqlite")
	ndb := ndbFile(blobs)
	small := makeBDB(binary.LittleEndian, blobs)
	// The last off-page item of the hash page (page 1, item 5).
	lastValue := 512 + int(binary.LittleEndian.Uint16(small[512+bdbPageHeaderSize+2*5:]))
	patch := func(b []byte, off int, v ...byte) []byte {
		b = slices.Clone(b)
		copy(b[off:], v)
		return b
	}
	tests := []struct {
		name        string
		kind        Kind
		file        []byte
		unsupported bool
	}{
		{name: "sqlite: empty", kind: RPMSQLite, file: nil},
		{name: "sqlite: bad magic", kind: RPMSQLite, file: patch(sqlite, 0, 'X')},
		{name: "sqlite: page size 3", kind: RPMSQLite, file: patch(sqlite, 16, 0, 3)},
		{name: "sqlite: header only", kind: RPMSQLite, file: sqlite[:100]},
		{name: "sqlite: truncated to two pages", kind: RPMSQLite, file: sqlite[:8192]},
		{name: "sqlite: page 1 of a wrong type", kind: RPMSQLite, file: patch(sqlite, 100, 0x02)},
		{name: "sqlite: cell count beyond the page", kind: RPMSQLite, file: patch(sqlite, 103, 0xff, 0xff)},
		{name: "sqlite: truncated overflow chains", kind: RPMSQLite, file: overflow[:len(overflow)/2]},
		{name: "sqlite: utf-16", kind: RPMSQLite, file: patch(sqlite, 56, 0, 0, 0, 2), unsupported: true},
		{name: "ndb: bad magic", kind: RPMNDB, file: patch(ndb, 0, 'X')},
		{name: "ndb: slot pages beyond the file", kind: RPMNDB, file: patch(ndb, 12, 0xff)},
		{name: "ndb: blob beyond the file", kind: RPMNDB, file: ndb[:len(ndb)-64]},
		{name: "ndb: bad slot magic", kind: RPMNDB, file: patch(ndb, 48, 'X')},
		{name: "ndb: blob length beyond its blocks", kind: RPMNDB, file: patch(ndb, ndbPageSize+12, 0xff, 0xff)},
		{name: "ndb: version 1", kind: RPMNDB, file: patch(ndb, 4, 1), unsupported: true},
		{name: "bdb: bad magic", kind: RPMBerkeleyDB, file: patch(bdb, 12, 0)},
		{name: "bdb: btree", kind: RPMBerkeleyDB, file: patch(bdb, 12, 0x62, 0x31, 0x05, 0x00), unsupported: true},
		{name: "bdb: truncated", kind: RPMBerkeleyDB, file: bdb[:len(bdb)/2]},
		{name: "bdb: encrypted", kind: RPMBerkeleyDB, file: patch(bdb, 24, 1), unsupported: true},
		{name: "bdb: overflow chain loops", kind: RPMBerkeleyDB, file: patch(small, 512*3+16, 3)},
		{name: "bdb: value longer than its chain", kind: RPMBerkeleyDB, file: patch(small, lastValue+8, 0xff, 0xff)},
		{name: "bdb: odd item count", kind: RPMBerkeleyDB, file: patch(small, 512+20, 3)},
		{name: "not an rpm kind", kind: DpkgStatus, file: sqlite, unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRPM(tt.kind, bytes.NewReader(tt.file), int64(len(tt.file)))
			want := ErrMalformed
			if tt.unsupported {
				want = ErrUnsupportedFormat
			}
			if !errors.Is(err, want) {
				t.Errorf("ParseRPM: got %v, %v; want an error wrapping %v", got, err, want)
			}
			var uerr *UnsupportedFormatError
			if tt.unsupported && (!errors.As(err, &uerr) || uerr.Format == "") {
				t.Errorf("ParseRPM: %v does not name the format", err)
			}
		})
	}
}

func TestSourceName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"bash-5.1.8-6.el9.src.rpm":           "bash",
		"util-linux-2.32.1-42.el8_8.src.rpm": "util-linux",
		"kernel-5.14.0-1.nosrc.rpm":          "kernel",
		"":                                   "",
		"bash.src.rpm":                       "",
		"noversion-1.src.rpm":                "",
		"not a source rpm":                   "",
		"python3.11-pip-22.3.1-4.el9_3.1.src.rpm": "python3.11-pip",
	} {
		if got := sourceName(in); got != want {
			t.Errorf("sourceName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRPM(f *testing.F) {
	for _, name := range []string{"testdata/rpm/tiny.sqlite"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(RPMSQLite), b)
		// The same records in the other page formats.
		blobs := [][]byte{}
		db, err := openSQLite(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			f.Fatal(err)
		}
		root, err := db.tableRoot("Packages")
		if err != nil {
			f.Fatal(err)
		}
		if err := db.walkTable(root, func(_ int64, p []byte) error {
			cols, err := record(p)
			if err == nil {
				blobs = append(blobs, cols[1].bytes)
			}
			return err
		}); err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(RPMNDB), ndbFile(blobs))
		f.Add(uint8(RPMBerkeleyDB), makeBDB(binary.LittleEndian, blobs))
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		k := RPMSQLite + Kind(kind%3)
		pkgs, err := ParseRPM(k, bytes.NewReader(b), int64(len(b)))
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedFormat) {
			t.Fatalf("unclassified error %v", err)
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("incomplete package %+v", p)
			}
		}
	})
}

func FuzzParseRPMHeader(f *testing.F) {
	data := []byte("bash\x005.1.8\x006.el9\x00x86_64\x00bash-5.1.8-6.el9.src.rpm\x00\x00\x00\x00\x00\x00\x00\x01")
	f.Add(rpmHeaderBlob([]rpmEntry{
		{rpmTagName, rpmTypeString, 0, 1},
		{rpmTagVersion, rpmTypeString, 5, 1},
		{rpmTagRelease, rpmTypeString, 11, 1},
		{rpmTagArch, rpmTypeString, 17, 1},
		{rpmTagSourceRPM, rpmTypeString, 24, 1},
		{rpmTagEpoch, rpmTypeInt32, 52, 1},
	}, data))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseRPMHeader(b)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unclassified error %v", err)
		}
		if err == nil && (p.Name == "" || p.Version == "") {
			t.Fatalf("incomplete package %+v", p)
		}
	})
}

// makeBDB lays blobs out as a Berkeley DB hash file in the given byte
// order, 512-byte pages: the metadata page, one hash page holding rpm's
// inline record 0 (a 4-byte counter) and one off-page item per blob, and
// each blob's chain of overflow pages.
func makeBDB(order binary.ByteOrder, blobs [][]byte) []byte {
	const ps = 512
	pages := [][]byte{make([]byte, ps), make([]byte, ps)}
	meta, hash := pages[0], pages[1]
	order.PutUint32(meta[12:], bdbHashMagic)
	order.PutUint32(meta[16:], 9)
	order.PutUint32(meta[20:], ps)
	meta[25] = bdbPageHashMeta
	order.PutUint32(hash[8:], 1)
	hash[25] = bdbPageHash
	var items [][]byte
	item := func(b []byte) { items = append(items, b) }
	key := func(n uint32) {
		k := []byte{bdbItemKeyData, 0, 0, 0, 0}
		order.PutUint32(k[1:], n)
		item(k)
	}
	key(0)
	item([]byte{bdbItemKeyData, 1, 0, 0, 0})
	for i, b := range blobs {
		key(uint32(i + 1))
		first := uint32(len(pages))
		for off := 0; off < len(b); off += ps - bdbPageHeaderSize {
			p := make([]byte, ps)
			n := copy(p[bdbPageHeaderSize:], b[off:])
			order.PutUint32(p[8:], uint32(len(pages)))
			order.PutUint16(p[22:], uint16(n))
			p[25] = bdbPageOverflow
			if off+n < len(b) {
				order.PutUint32(p[16:], uint32(len(pages)+1))
			}
			pages = append(pages, p)
		}
		v := make([]byte, bdbOffPageSize)
		v[0] = bdbItemOffPage
		order.PutUint32(v[4:], first)
		order.PutUint32(v[8:], uint32(len(b)))
		item(v)
	}
	end := ps
	order.PutUint16(hash[20:], uint16(len(items)))
	for i, it := range items {
		end -= len(it)
		copy(hash[end:], it)
		order.PutUint16(hash[bdbPageHeaderSize+2*i:], uint16(end))
	}
	order.PutUint16(hash[22:], uint16(end))
	order.PutUint32(meta[32:], uint32(len(pages)-1))
	return bytes.Join(pages, nil)
}

func TestParseRPMBerkeleyDBByteOrders(t *testing.T) {
	t.Parallel()
	blobs := sqliteBlobs(t, "testdata/rpm/rpmdb.sqlite")
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			t.Parallel()
			file := makeBDB(order, blobs)
			got, err := ParseRPM(RPMBerkeleyDB, bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatalf("ParseRPM(bdb): %v", err)
			}
			sortPackages(got)
			if diff := cmp.Diff([]Package{rpmHello, rpmWorld}, got); diff != "" {
				t.Errorf("ParseRPM(bdb) (-want +got):\n%s", diff)
			}
		})
	}
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r failingReader) ReadAt([]byte, int64) (int, error) { return 0, r.err }

// TestParseRPMReaderError checks that a failing reader is reported as
// itself, not as a malformed database.
func TestParseRPMReaderError(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("disk on fire")
	for _, kind := range []Kind{RPMSQLite, RPMNDB, RPMBerkeleyDB} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			_, err := ParseRPM(kind, failingReader{errDisk}, 1<<20)
			if !errors.Is(err, errDisk) || errors.Is(err, ErrMalformed) {
				t.Errorf("ParseRPM: got %v, want the reader's error and not ErrMalformed", err)
			}
		})
	}
}
