package queue

// OnListen makes q call f each time its listener listens (tests).
func OnListen(q *Postgres, f func()) { q.onListen = f }
