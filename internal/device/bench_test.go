package device_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/require"
)

// The service-level benchmarks measure the use case and the database
// without HTTP; internal/httpapi has the end-to-end ones. Run: make bench.

func BenchmarkRegister(b *testing.B) {
	storetest.EachDialectBench(b, func(b *testing.B, dialect string) {
		// serial: one caller, so every registration is its own commit;
		// parallel: 32 callers per core, whose registrations the audit
		// log's writer commits together (group commit).
		for _, mode := range []string{"serial", "parallel"} {
			b.Run(mode, func(b *testing.B) {
				s := mustSetup(b, storetest.MustOpenDB(b, dialect, nil))
				ctx := context.Background()
				var n atomic.Int64
				register := func() error {
					_, err := s.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: fmt.Sprintf("B%09d", n.Add(1)), Firmware: "1", NoticeKey: "n"})
					return err
				}
				b.ResetTimer()
				if mode == "serial" {
					for b.Loop() {
						if err := register(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(32)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := register(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "devices/s")
			})
		}
	})
}

func BenchmarkInventoryRead(b *testing.B) {
	storetest.EachDialectBench(b, func(b *testing.B, dialect string) {
		s := mustSetup(b, storetest.MustOpenDB(b, dialect, nil))
		ctx := context.Background()
		d := mustRegister(b, s, "bench")
		elements := make([]privacy.DataElement, 10)
		for i := range elements {
			elements[i] = element(fmt.Sprintf("e%d", i))
		}
		for range 3 {
			_, _, err := s.PutInventory(ctx, d.ID, "c", elements)
			require.NoError(b, err)
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Inventory(ctx, d.ID, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	})
}
