package gobin

import (
	"bytes"
	"debug/buildinfo"
	"debug/plan9obj"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// Info is the build information of one Go executable.
type Info struct {
	// GoVersion is the version of the toolchain that built the
	// executable, e.g. "go1.26.8"; empty when it could not be read
	// (ErrOldFormat).
	GoVersion string `json:"goVersion"`
	// Path is the package path of the main package.
	Path string `json:"path,omitempty"`
	// Main is the module holding the main package.
	Main Module `json:"main"`
	// Deps are the module dependencies, in the order the build info
	// lists them (sorted by path).
	Deps []Module `json:"deps,omitempty"`
	// Settings are the build settings (-trimpath, CGO_ENABLED, GOARCH,
	// vcs.revision, …), in the order the build info lists them.
	Settings []Setting `json:"settings,omitempty"`
}

// Module is one module of a build: the main module or a dependency.
type Module struct {
	Path    string  `json:"path"`
	Version string  `json:"version,omitempty"`
	Sum     string  `json:"sum,omitempty"`
	Replace *Module `json:"replace,omitempty"`
}

// Setting is one key-value build setting.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// The build info blob the linker writes starts with a 32-byte header at a
// 16-byte-aligned address: the magic (14 bytes), the pointer size, a flags
// byte and, in the pointer format only, two pointers. In the inline format
// (Go 1.18 and later) the pointer fields are zero and the header is
// followed by the Go version and the module information, each as a varint
// length and that many bytes.
const (
	buildInfoMagic      = "\xff Go buildinf:"
	buildInfoAlign      = 16
	buildInfoHeaderSize = 32

	ptrSizeOffset = 14
	flagsOffset   = 15

	flagsEndianBig   = 0x1
	flagsVersionInl  = 0x2
	flagsKnownBits   = flagsEndianBig | flagsVersionInl
	identSize        = 16
	maxVersionLength = 4 << 10
	// maxModinfoLength bounds the memory one candidate blob may take. The
	// module information of the largest executables in the wild is a few
	// hundred KiB.
	maxModinfoLength = 8 << 20
	// readChunkSize is how much Read asks of its reader at a time.
	readChunkSize = 64 << 10
)

// Read reads the build information of the Go executable r streams,
// reading no further than the build information's end.
//
// It returns (nil, nil) when the stream is not a Go executable: not an
// executable at all (decided from its first 16 bytes, without reading
// further) or an executable without Go build information. For an
// executable linked by Go 1.17 or earlier it returns an Info with an
// empty GoVersion and ErrOldFormat. Errors from r are returned wrapped.
func Read(r io.Reader) (*Info, error) {
	var s Scanner
	buf := make([]byte, readChunkSize)
	for !s.Done() {
		n, err := r.Read(buf)
		_, _ = s.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading go build info: %w", err)
		}
	}
	return s.Info()
}

// ReadAt reads the build information of the Go executable r holds, size
// bytes long. It reads executables of every Go version, those Go 1.17 and
// earlier linked included (through debug/buildinfo), and otherwise
// returns what Read returns.
func ReadAt(r io.ReaderAt, size int64) (*Info, error) {
	info, err := Read(io.NewSectionReader(r, 0, size))
	if !errors.Is(err, ErrOldFormat) {
		return info, err
	}
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil, &FormatError{Reason: "reading the pre-1.18 format", Err: err}
	}
	info = fromBuildInfo(bi)
	return info, nil
}

// Scanner finds the Go build information in the bytes written to it, so
// that it can sit beside a hash in an io.MultiWriter. Write never fails
// and ignores the bytes that follow the build information; Done says
// when nothing more is needed. Memory stays bounded whatever is written.
// The zero Scanner is ready to use.
type Scanner struct {
	// buf holds the bytes not yet examined, or kept because a candidate
	// blob or the magic may start there; base is the stream offset of
	// buf[0].
	buf  []byte
	base int64

	sniffed bool // the first bytes have been seen and are an executable
	done    bool
	info    *Info
	err     error
	// sawOld: a header of the pre-1.18 pointer format went by.
	sawOld bool
}

// Write feeds the next bytes of the stream. It always returns len(p), nil.
func (s *Scanner) Write(p []byte) (int, error) {
	if s.done {
		return len(p), nil
	}
	s.buf = append(s.buf, p...)
	s.process(false)
	return len(p), nil
}

// Done reports whether the result is known: the build information was
// found or failed to decode, or the stream is not an executable.
func (s *Scanner) Done() bool { return s.done }

// Info ends the stream and returns what Read returns for it.
func (s *Scanner) Info() (*Info, error) {
	if !s.done {
		s.process(true)
		s.done = true
		if s.info == nil && s.err == nil && s.sawOld {
			s.info, s.err = &Info{}, ErrOldFormat
		}
		s.buf = nil
	}
	return s.info, s.err
}

// process examines buf; at eof it also settles candidates that wait for
// more bytes.
func (s *Scanner) process(eof bool) {
	if !s.sniffed {
		if len(s.buf) < identSize {
			if eof {
				s.finish(nil, nil)
			}
			return
		}
		if !isExecutable(s.buf[:identSize]) {
			s.finish(nil, nil)
			return
		}
		s.sniffed = true
	}
	from := 0
	for {
		i := bytes.Index(s.buf[from:], []byte(buildInfoMagic))
		if i < 0 {
			break
		}
		i += from
		if (s.base+int64(i))%buildInfoAlign != 0 {
			from = i + 1
			continue
		}
		info, ok, more, err := s.candidate(s.buf[i:], s.base+int64(i))
		switch {
		case ok:
			s.finish(info, err)
			return
		case more && !eof:
			// Keep the candidate and wait for the rest of it.
			s.drop(i)
			return
		}
		from = i + 1
	}
	// No candidate: keep only what could be the start of the magic.
	keep := len(buildInfoMagic) - 1
	if keep > len(s.buf) {
		keep = len(s.buf)
	}
	s.drop(len(s.buf) - keep)
}

// drop discards the first n bytes of buf.
func (s *Scanner) drop(n int) {
	if n == 0 {
		return
	}
	s.base += int64(n)
	k := copy(s.buf, s.buf[n:])
	s.buf = s.buf[:k]
}

func (s *Scanner) finish(info *Info, err error) {
	s.info, s.err, s.done = info, err, true
	s.buf = nil
}

// candidate decodes the blob at the start of b, at stream offset off. ok
// says that b holds the build info (info, or err when its contents do not
// decode); more that b may hold it but ends too early to tell; neither
// that b does not start a blob, and scanning goes on.
func (s *Scanner) candidate(b []byte, off int64) (info *Info, ok, more bool, err error) {
	if len(b) < buildInfoHeaderSize {
		return nil, false, true, nil
	}
	ptrSize, flags := b[ptrSizeOffset], b[flagsOffset]
	if ptrSize != 4 && ptrSize != 8 || flags&^flagsKnownBits != 0 {
		return nil, false, false, nil
	}
	if flags&flagsVersionInl == 0 {
		// The pointer format: the strings are elsewhere, at addresses a
		// stream cannot map to offsets. A later inline blob wins; see
		// Info.
		s.sawOld = true
		return nil, false, false, nil
	}
	for _, c := range b[ptrSizeOffset+2 : buildInfoHeaderSize] {
		if c != 0 {
			return nil, false, false, nil
		}
	}
	vers, rest, more, valid := inlineString(b[buildInfoHeaderSize:], maxVersionLength)
	if !valid || vers == "" && !more {
		return nil, false, false, nil
	}
	if more {
		return nil, false, true, nil
	}
	mod, _, more, valid := inlineString(rest, maxModinfoLength)
	if !valid {
		return nil, false, false, nil
	}
	if more {
		return nil, false, true, nil
	}
	// Strip the sentinels that frame the module information, exactly as
	// debug/buildinfo does.
	if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
		mod = mod[16 : len(mod)-16]
	} else {
		mod = ""
	}
	bi, err := debug.ParseBuildInfo(mod)
	if err != nil {
		return nil, true, false, &FormatError{Offset: off, Reason: "parsing the module information", Err: err}
	}
	bi.GoVersion = vers
	return fromBuildInfo(bi), true, false, nil
}

// inlineString decodes a varint length and that many bytes at the start
// of b. more: b ends before the string does; !valid: no string of at most
// limit bytes starts there.
func inlineString(b []byte, limit uint64) (s string, rest []byte, more, valid bool) {
	n, k := binary.Uvarint(b)
	switch {
	case k == 0:
		return "", nil, true, true
	case k < 0 || n > limit:
		return "", nil, false, false
	case uint64(len(b)-k) < n:
		return "", nil, true, true
	}
	return string(b[k : k+int(n)]), b[k+int(n):], false, true
}

// isExecutable reports whether ident, the first 16 bytes of a file,
// starts an executable format debug/buildinfo reads.
func isExecutable(ident []byte) bool {
	switch {
	case bytes.HasPrefix(ident, []byte("\x7fELF")),
		bytes.HasPrefix(ident, []byte("MZ")),
		bytes.HasPrefix(ident, []byte("\xfe\xed\xfa")),
		bytes.HasPrefix(ident[1:], []byte("\xfa\xed\xfe")),
		bytes.HasPrefix(ident, []byte("\xca\xfe\xba\xbe")),
		bytes.HasPrefix(ident, []byte("\xca\xfe\xba\xbf")),
		bytes.HasPrefix(ident, []byte{0x01, 0xdf}),
		bytes.HasPrefix(ident, []byte{0x01, 0xf7}):
		return true
	}
	// Plan 9 a.out: 386, amd64, arm.
	switch binary.BigEndian.Uint32(ident) {
	case plan9obj.Magic386, plan9obj.MagicAMD64, plan9obj.MagicARM:
		return true
	}
	return false
}

func fromBuildInfo(bi *debug.BuildInfo) *Info {
	info := &Info{
		GoVersion: bi.GoVersion,
		Path:      bi.Path,
		Main:      fromModule(&bi.Main),
	}
	for _, d := range bi.Deps {
		if d != nil {
			info.Deps = append(info.Deps, fromModule(d))
		}
	}
	for _, st := range bi.Settings {
		info.Settings = append(info.Settings, Setting{Key: st.Key, Value: st.Value})
	}
	return info
}

func fromModule(m *debug.Module) Module {
	out := Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		r := fromModule(m.Replace)
		out.Replace = &r
	}
	return out
}
