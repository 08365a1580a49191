package sqlitetune

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkDurableWrite is the disk's side of a commit at one caller: a
// WAL-sized write (six frames) made durable, appended with fsync (what
// the unix VFS of go-sqlite3's build does to a growing WAL) against
// overwriting blocks already written, with fdatasync (what walbuf does).
//
//	go test -run '^$' -bench DurableWrite ./internal/store/sqlitetune/
func BenchmarkDurableWrite(b *testing.B) {
	const frame = 4096 + 24
	buf := make([]byte, 6*frame)
	for _, c := range []struct {
		name      string
		overwrite bool
		sync      func(fd int) error
	}{
		{"append+fsync", false, syscall.Fsync},
		{"append+fdatasync", false, syscall.Fdatasync},
		{"overwrite+fsync", true, syscall.Fsync},
		{"overwrite+fdatasync", true, syscall.Fdatasync},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if c.overwrite {
				if err := f.Truncate(0); err != nil {
					b.Fatal(err)
				}
				zeros := make([]byte, 1<<20)
				for written := int64(0); written < int64(b.N+1)*int64(len(buf)); written += int64(len(zeros)) {
					if _, err := f.Write(zeros); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for i := range b.N {
				if _, err := f.WriteAt(buf, int64(i)*int64(len(buf))); err != nil {
					b.Fatal(err)
				}
				if err := c.sync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
