//go:build !race

package consumer

const raceOn = false
