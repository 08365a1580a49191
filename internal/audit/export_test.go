package audit

// Queued is how many changes wait for the writer, for tests that need
// the writer's queue in a known state.
func Queued(l *Log) int { return len(l.jobs) }
