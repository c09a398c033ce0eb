//go:build race

package consumer_test

// raceEnabled: the race detector multiplies memory use, so RSS bounds are
// not checked.
const raceEnabled = true
