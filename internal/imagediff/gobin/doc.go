// Package gobin reads the build information Go writes into every
// executable it links (the Go version, the main module, the module
// dependencies and the build settings) from a stream, and compares the
// build information of two executables.
//
// It owns two things:
//
//   - Reading: [Read] and [Scanner] find the build information in one
//     pass over the file's bytes, without buffering the file and without
//     seeking, so that an executable can be examined while a layer's tar
//     stream goes by. The first bytes decide whether the stream is an
//     executable at all (ELF, Mach-O, PE, XCOFF, Plan 9); anything else is
//     rejected at once. Executables linked by Go 1.18 or later carry the
//     build information inline after a 16-byte-aligned marker, which is
//     what the stream scan reads. Older executables point to it from
//     there instead, which a stream cannot follow: the scan reports
//     [ErrOldFormat], and [ReadAt] reads such a file when it is available
//     for random access (a cached or extracted copy).
//   - Comparing: [Diff] lists the Go version, main module, module and
//     build setting changes between two executables, ordering module
//     versions (pseudo-versions included) by semantic versioning.
//
// The module information is parsed exactly as debug/buildinfo parses it
// (runtime/debug.ParseBuildInfo on the text between the linker's
// sentinels), so both readers agree on every executable Go 1.18 or later
// produced.
package gobin
