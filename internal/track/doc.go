// Package track is where a resolution meets the store: it resolves a tag,
// records what it learned, and when the registry is unavailable answers
// with the last digest the store knows for that tag and scope. The CLI
// and the webhook both go through it, so both keep history the same way.
package track
