//go:build race

package main

// raceEnabled: the race detector's shadow memory inflates a child's RSS
// several times, so memory bounds on RSS are only checked without it.
const raceEnabled = true
