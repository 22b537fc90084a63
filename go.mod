module github.com/tagpin/tagpin

go 1.26.0

require (
	github.com/distribution/reference v0.6.0
	github.com/opencontainers/go-digest v1.0.0
)
