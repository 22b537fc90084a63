package cli

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/pin"
)

// TestWriteReportJSON checks that the streamed report is what writeJSON
// writes.
func TestWriteReportJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		report pin.Report
	}{
		{"empty", pin.Report{}},
		{"no items", pin.Report{Files: 3, Items: []pin.Item{}}},
		{"items", pin.Report{Files: 2, Pinned: 1, Failed: 1, Items: []pin.Item{
			{File: "a.yaml", Line: 1, Ref: "nginx:1.27", Action: "pinned", Digest: "sha256:x"},
			{File: "b <x>.yaml", Action: "failed", Message: "b has 2 hard links & more", Problem: pin.ProblemHardLinked},
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var want, got bytes.Buffer
			wantReport := tc.report
			if wantReport.Items == nil {
				wantReport.Items = []pin.Item{}
			}
			if err := writeJSON(&want, wantReport); err != nil {
				t.Fatal(err)
			}
			if err := writeReportJSON(&got, &tc.report); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("report JSON (-writeJSON +writeReportJSON):\n%s", diff)
			}
		})
	}
}
