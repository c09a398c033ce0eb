//go:build race

package consumer

// raceOn: the race detector adds allocations and multiplies memory use,
// so allocation counts and RSS bounds are not checked under it.
const raceOn = true
