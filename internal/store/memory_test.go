package store_test

import (
	"testing"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(_ *testing.T, maxMoves int) store.Store { return store.NewMemory(maxMoves) })
}
