//go:build !race

package jetstream_test

// raceDetector reports whether the race detector is on: its shadow memory
// counts in RSS, so memory bounds are looser under it.
const raceDetector = false
