package tgsandbox

import (
	"cmp"
	"slices"
)

func sortBy[T any](s []T, key func(T) int64) {
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
}
