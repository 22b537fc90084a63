package pin

import "testing"

func TestIsWorkflow(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    bool
	}{
		{"on: push\njobs:\n  build:\n", true},
		{"jobs:", true},
		{"on: push\r\njobs: \r\n", true},
		{"on: push\njobs: # the jobs\n", true},
		{"  jobs:\n", false},           // not top-level
		{"jobs: []\n", false},          // not a block
		{"myjobs:\n", false},           // another key
		{"steps:\n  - jobs:\n", false}, // nested
		{"", false},
	} {
		if got := isWorkflow([]byte(tc.content)); got != tc.want {
			t.Errorf("isWorkflow(%q) = %v, want %v", tc.content, got, tc.want)
		}
	}
}
