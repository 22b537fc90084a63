package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/storetest"
)

var encodingKey = storetest.Key("team/app", "latest")

// move returns a move as store.Record makes it (times in UTC).
func move(d digest.Digest, first, last time.Time, src store.Source) store.Move {
	return store.Move{Digest: d, FirstSeen: first.UTC(), LastSeen: last.UTC(), Source: src}
}

func encodingCases() []struct {
	name    string
	history []store.Move
} {
	a := storetest.Digest("a")
	return []struct {
		name    string
		history []store.Move
	}{
		{"one sha256 move", []store.Move{move(a, t0, t0, store.SourceCLI)}},
		{"every source", []store.Move{
			move(a, t0.Add(4*time.Hour), t0.Add(5*time.Hour), store.SourceAdmission),
			move(storetest.Digest("b"), t0.Add(3*time.Hour), t0.Add(4*time.Hour), store.SourceRefresh),
			move(a, t0.Add(2*time.Hour), t0.Add(3*time.Hour), store.SourceNotification),
			move(storetest.Digest("c"), t0, t0.Add(time.Nanosecond), store.SourceCLI),
		}},
		{"other sources", []store.Move{
			move(a, t0, t0, "replay"),
			move(a, t0, t0, ""),
		}},
		{"other digests", []store.Move{
			move(sha512Digest, t0, t0, store.SourceCLI),
			move("sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789", t0, t0, store.SourceCLI),
			move("sha256:abc", t0, t0, store.SourceCLI),
			move(digest.Digest("sha256:"+strings.Repeat("g", 64)), t0, t0, store.SourceCLI),
			move("", t0, t0, store.SourceCLI),
		}},
		{"times far apart", []store.Move{
			move(a, time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64), store.SourceCLI),
			move(a, time.Unix(0, -1), time.Unix(0, 0), store.SourceCLI),
			// Never written by Record, but representable.
			move(a, time.Unix(0, math.MaxInt64), time.Unix(0, math.MinInt64), store.SourceCLI),
		}},
	}
}

func TestTagRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range encodingCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := &store.Tag{Key: encodingKey, History: tt.history}
			got, err := decodeTag(encodingKey, encodeTag(want))
			if err != nil {
				t.Fatalf("decodeTag: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded record (-want +got):\n%s", diff)
			}
			for i, m := range got.History {
				if m.FirstSeen.Location() != time.UTC || m.LastSeen.Location() != time.UTC {
					t.Errorf("move %d: times in %s and %s, want UTC", i, m.FirstSeen.Location(), m.LastSeen.Location())
				}
			}
		})
	}
}

func TestTagSize(t *testing.T) {
	t.Parallel()
	// A sha256 move seen over a day from a known source: kind and hash,
	// 9 bytes of time, 7 of duration, 1 of source.
	day := &store.Tag{Key: encodingKey, History: []store.Move{move(storetest.Digest("a"), t0, t0.Add(24*time.Hour), store.SourceRefresh)}}
	if got, want := len(encodeTag(day)), 2+33+9+7+1; got != want {
		t.Errorf("a one-move record takes %d bytes, want %d", got, want)
	}
}

func TestRevisionRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []digest.Digest{storetest.Digest("a"), sha512Digest, "sha256:ABC"} {
		for _, name := range []string{"web-5d8f7c9b6", ""} {
			gotName, got, err := decodeRevision("pin", encodeRevision(name, d))
			if err != nil || gotName != name || got != d {
				t.Errorf("decodeRevision(encodeRevision(%q, %s)) = %q, %s, %v", name, d, gotName, got, err)
			}
		}
	}
}

func TestDecodeTagRejects(t *testing.T) {
	t.Parallel()
	valid := encodeTag(&store.Tag{Key: encodingKey, History: encodingCases()[1].history})
	tests := map[string][]byte{
		"empty":               nil,
		"newer version":       append([]byte{2}, valid[1:]...),
		"no moves":            {recordVersion, 0},
		"too many moves":      {recordVersion, 200, 1, digestString, 0, 0, 0, sourceCLI},
		"left over bytes":     append(bytes.Clone(valid), 0),
		"unknown digest kind": {recordVersion, 1, 7, 0, 0, sourceCLI},
		"unknown source":      {recordVersion, 1, digestString, 0, 0, 0, 9},
		"string too long":     {recordVersion, 1, digestString, 50, 'x', 0, 0, sourceCLI},
		"varint overflow":     append([]byte{recordVersion, 1, digestString, 0}, bytes.Repeat([]byte{0xff}, 11)...),
		"huge length":         binary.AppendUvarint([]byte{recordVersion, 1, digestString}, math.MaxUint64),
	}
	// Every prefix of a valid record is truncated.
	for n := range len(valid) {
		tests[fmt.Sprintf("truncated to %d bytes", n)] = valid[:n]
	}
	for name, v := range tests {
		got, err := decodeTag(encodingKey, v)
		if err == nil {
			t.Errorf("%s: decodeTag(% x) = %+v, want an error", name, v, got)
			continue
		}
		if !strings.Contains(err.Error(), encodingKey.String()) {
			t.Errorf("%s: error %q does not name the tag", name, err)
		}
	}
}

func FuzzDecodeTag(f *testing.F) {
	for _, tt := range encodingCases() {
		f.Add(encodeTag(&store.Tag{Key: encodingKey, History: tt.history}))
	}
	f.Add([]byte{recordVersion, 1, digestString, 0, 0, 0, sourceCLI})
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := decodeTag(encodingKey, v)
		if err != nil {
			return
		}
		if len(got.History) == 0 {
			t.Fatalf("decodeTag(% x) returned no moves and no error", v)
		}
		// What decodes encodes to something that decodes the same.
		again, err := decodeTag(encodingKey, encodeTag(got))
		if err != nil {
			t.Fatalf("decoding the encoding of %+v: %v", got, err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Errorf("decode, encode, decode (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeRevision(f *testing.F) {
	f.Add(encodeRevision("web-1", storetest.Digest("a")))
	f.Add(encodeRevision("", "sha512:abc"))
	f.Fuzz(func(t *testing.T, v []byte) {
		name, d, err := decodeRevision("pin", v)
		if err != nil {
			return
		}
		name2, d2, err := decodeRevision("pin", encodeRevision(name, d))
		if err != nil || name2 != name || d2 != d {
			t.Errorf("decode, encode, decode: %q, %s, %v; want %q, %s", name2, d2, err, name, d)
		}
	})
}

func TestKeys(t *testing.T) {
	t.Parallel()
	k, err := tagKey(store.TagKey{Scope: "ns", Registry: "r", Repository: "a/b", Tag: "t"})
	if err != nil || string(k) != "ns\x00r\x00a/b\x00t" {
		t.Errorf("tagKey = %q, %v", k, err)
	}
	if k, err := tagKey(store.TagKey{Registry: "r", Repository: "a", Tag: "t"}); err != nil || string(k) != "\x00r\x00a\x00t" {
		t.Errorf("tagKey of a public tag = %q, %v", k, err)
	}
	rk := store.RevisionKey{Namespace: "ns", Owner: store.Owner{Kind: "StatefulSet", Name: "db", UID: "u", Revision: "r"}, Image: "img"}
	k, err = revisionKey(rk)
	if err != nil || string(k) != "ns\x00StatefulSet\x00u\x00r\x00img" {
		t.Errorf("revisionKey = %q, %v", k, err)
	}
	if p, ok := revisionOwnerPrefix(k); !ok || string(p) != "ns\x00StatefulSet\x00u\x00r\x00" {
		t.Errorf("revisionOwnerPrefix = %q, %t", p, ok)
	}
	got, err := parseRevisionKey(k)
	rk.Owner.Name = ""
	if err != nil || got != rk {
		t.Errorf("parseRevisionKey = %+v, %v; want %+v", got, err, rk)
	}
}

// sha512Digest is a digest that is not sha256.
const sha512Digest = digest.Digest("sha512:" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
