package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiterWindows(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(2, time.Minute)
	l.now = func() time.Time { return now }

	ok, _ := l.Allow("a")
	require.True(t, ok)
	ok, _ = l.Allow("a")
	require.True(t, ok)
	ok, retry := l.Allow("a")
	require.False(t, ok)
	require.Equal(t, time.Minute, retry)

	ok, _ = l.Allow("b")
	require.True(t, ok, "keys are independent")

	now = now.Add(30 * time.Second)
	ok, retry = l.Allow("a")
	require.False(t, ok)
	require.Equal(t, 30*time.Second, retry)

	now = now.Add(30 * time.Second)
	ok, _ = l.Allow("a")
	require.True(t, ok, "a new window starts")
}

func TestLimiterSweepsOldKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(1, time.Second)
	l.now = func() time.Time { return now }
	for i := 0; i < 100; i++ {
		l.Allow(string(rune('a'+i%26)) + time.Duration(i).String())
	}
	now = now.Add(2 * time.Second)
	l.Allow("fresh")
	require.Len(t, l.entries, 1)
}
