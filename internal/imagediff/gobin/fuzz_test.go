package gobin

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzRead feeds arbitrary streams to Read: it never panics, and the
// Scanner fed byte by byte agrees with it.
func FuzzRead(f *testing.F) {
	mi := modinfo("path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\texample.com/lib\tv1.2.0\th1:abc=\n=>\t../lib\t\t\nbuild\tGOARCH=amd64\n")
	f.Add(append(elfPrefix(64), syntheticBlob("go1.26.8", mi)...))
	f.Add(append(elfPrefix(16), syntheticBlob("go1.26.8", "")...))
	f.Add(append(append(elfPrefix(16), syntheticHeader(8, 0)...), make([]byte, 16)...))
	f.Add([]byte("MZ\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff Go buildinf:\x08\x02"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Read(bytes.NewReader(data))
		var fe *FormatError
		switch {
		case err == nil && got != nil && got.GoVersion == "":
			t.Errorf("Read returned build info without a Go version: %+v", got)
		case err != nil && !errors.Is(err, ErrOldFormat) && !errors.As(err, &fe):
			t.Errorf("Read error %v is neither ErrOldFormat nor a *FormatError", err)
		}
		var s Scanner
		for i := 0; i < len(data) && !s.Done(); i++ {
			_, _ = s.Write(data[i : i+1])
		}
		got2, err2 := s.Info()
		if diff := cmp.Diff(got, got2); diff != "" || (err == nil) != (err2 == nil) {
			t.Errorf("byte-by-byte Scanner differs from Read: err %v vs %v (-Read +Scanner):\n%s", err, err2, diff)
		}
	})
}
