// Package bench holds tagpin's benchmarks: `make bench` runs them once
// each and prints the figures (b.ReportMetric). They assert nothing about
// speed; tests assert behaviour.
package bench
