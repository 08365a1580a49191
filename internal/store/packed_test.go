package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allowSteps are the canonical steps of an allow as decide writes them.
const allowSteps = `[{"check":"device","detail":"device is active","ok":true},` +
	`{"check":"inventory","detail":"inventory version 1 declares video (personal.media.image) for security-monitoring","ok":true},` +
	`{"check":"notice","detail":"version 1 of notice acme-cam states video for security-monitoring","ok":true},` +
	`{"check":"policy","detail":"the data policy lets service-client use personal.media.image for security-monitoring","ok":true},` +
	`{"check":"consent","detail":"consent record 01a252a5-8603-7158-ade3-fd802878a1a0 (audit entry 2543) grants security-monitoring until 2027-12-07T22:35:09Z","ok":true}]`

func decisionRecord(id string, seq int64, steps string, at time.Time) store.DecisionRecord {
	return store.DecisionRecord{ID: id, ServiceID: "svc", ServiceName: "service-client", SubjectID: "anna", DeviceID: "dev", Element: "video",
		Purpose: "security-monitoring", Action: "use", Allow: true, Reasons: []string{}, Steps: []byte(steps),
		ConsentRecord: "01a252a5-8603-7158-ade3-fd802878a1a0", ConsentSeq: 2543, NoticeVersion: 1, AuditSeq: seq, CreatedAt: at}
}

// TestDecisionStepsArePacked: a decision's steps are stored packed, in
// about a third of their size, and read back byte for byte, through both
// of InsertBatch's paths (SQLite's rows and PostgreSQL's arrays) and
// whether packed by the caller or by the store; rows whose steps are
// text, as every row was before, read as they did.
func TestDecisionStepsArePacked(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		deny := `[{"check":"device","detail":"device is active","ok":true},{"check":"inventory","detail":"the device has no inventory","ok":false,"reason":"element_not_declared"}]`
		byStore, byCaller, text := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
		packed := decisionRecord(byCaller, 2, deny, at)
		packed.PackedSteps = store.PackSteps(packed.Steps)
		require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
			return tx.InsertBatch([]store.DecisionRecord{decisionRecord(byStore, 1, allowSteps, at), packed}, nil, nil)
		}))
		sqlDB, err := db.SQL()
		require.NoError(t, err)
		// A row as they were written before steps were packed.
		q := `INSERT INTO decisions (id, service_id, service_name, subject_id, device_id, element, purpose, action, allow, reasons, steps,
			consent_record, consent_seq, notice_version, audit_seq, created_at) VALUES ($1, 'svc', 'service-client', 'anna', 'dev', 'video',
			'security-monitoring', 'use', true, '[]', $2, '', NULL, NULL, 3, $3)`
		_, err = sqlDB.Exec(q, text, allowSteps, at)
		require.NoError(t, err)

		for id, want := range map[string]string{byStore: allowSteps, byCaller: deny, text: allowSteps} {
			got, err := db.Read(ctx).Decision(id)
			require.NoError(t, err)
			assert.Equal(t, want, string(got.Steps), id)
		}
		page, err := db.Read(ctx).DecisionsPage("", 10)
		require.NoError(t, err)
		require.Len(t, page, 3)
		for _, d := range page {
			assert.Contains(t, string(d.Steps), `"check":"device"`)
		}

		var stored, textLen int
		require.NoError(t, sqlDB.QueryRow(`SELECT length(steps_packed), length(steps) FROM decisions WHERE id = $1`, byStore).Scan(&stored, &textLen))
		assert.Zero(t, textLen, "a packed row's steps column is empty")
		assert.Less(t, stored, len(allowSteps)*2/5, "packed: %d bytes of %d", stored, len(allowSteps))
		t.Logf("%s: steps of an allow, %d bytes, stored in %d", dialect, len(allowSteps), stored)
	})
}

// TestStepsTooLongToPackAreStoredAsText: steps past the bound a packed
// value may unpack to are stored as text, through both of InsertBatch's
// paths, and read back whole.
func TestStepsTooLongToPackAreStoredAsText(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		long := `[{"check":"device","detail":"` + strings.Repeat("x", 1<<20) + `","ok":true}]`
		assert.Nil(t, store.PackSteps([]byte(long)))
		id, short := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
		require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
			return tx.InsertBatch([]store.DecisionRecord{decisionRecord(id, 1, long, time.Now().UTC()),
				decisionRecord(short, 2, allowSteps, time.Now().UTC())}, nil, nil)
		}))
		got, err := db.Read(ctx).Decision(id)
		require.NoError(t, err)
		assert.Equal(t, long, string(got.Steps))
		got, err = db.Read(ctx).Decision(short)
		require.NoError(t, err)
		assert.Equal(t, allowSteps, string(got.Steps))
		sqlDB, err := db.SQL()
		require.NoError(t, err)
		var packed sql.NullString
		require.NoError(t, sqlDB.QueryRow(`SELECT steps_packed FROM decisions WHERE id = $1`, id).Scan(&packed))
		assert.False(t, packed.Valid, "steps_packed is NULL where steps are text")
	})
}

// undecodable are values made from good, a packed value, that begin with
// the version byte and do not unpack.
func undecodable(good []byte) [][]byte {
	return [][]byte{
		good[:len(good)/2],                   // cut short
		{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, // 4 GiB declared
		{1},                                  // nothing after the version
		append(append([]byte{}, good...), 0, 1, 2, 3), // trailing bytes
	}
}

// TestPackedStepsThatDoNotUnpackFailTheRead: a packed value of an
// unknown version, cut short, or declaring a length past the bound is an
// error for the read, on both dialects, never steps served.
func TestPackedStepsThatDoNotUnpackFailTheRead(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		good := store.PackSteps([]byte(allowSteps))
		for i, bad := range append(undecodable(good),
			append([]byte{2}, good[1:]...),                // a version that does not exist
			append([]byte{1}, []byte(allowSteps)[:40]...), // text where a block belongs
		) {
			id := uuid.Must(uuid.NewV7()).String()
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
				d := decisionRecord(id, int64(i), allowSteps, time.Now().UTC())
				d.PackedSteps = bad
				return tx.InsertDecisions([]store.DecisionRecord{d})
			}))
			_, err := db.Read(ctx).Decision(id)
			require.Error(t, err, fmt.Sprintf("value %d", i))
			assert.Contains(t, err.Error(), "packed steps do not unpack", fmt.Sprintf("value %d", i))
		}
	})
}

// TestPackedStepsAreAppendOnly: the one update a decision row takes, an
// erasure's subject id, leaves its packed steps as they were; an update
// of them is refused by the database, on both dialects.
func TestPackedStepsAreAppendOnly(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		id := uuid.Must(uuid.NewV7()).String()
		require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
			return tx.InsertBatch([]store.DecisionRecord{decisionRecord(id, 1, allowSteps, time.Now().UTC())}, nil, nil)
		}))
		sqlDB, err := db.SQL()
		require.NoError(t, err)
		edited := store.PackSteps([]byte(`[{"check":"device","detail":"device is fine","ok":true}]`))
		_, err = sqlDB.Exec(`UPDATE decisions SET steps_packed = $1 WHERE id = $2`, edited, id)
		require.ErrorContains(t, err, "append-only")
		_, err = sqlDB.Exec(`UPDATE decisions SET subject_id = 'erased:x', steps_packed = $1 WHERE id = $2`, edited, id)
		require.ErrorContains(t, err, "append-only")
		_, err = sqlDB.Exec(`UPDATE decisions SET subject_id = 'erased:x' WHERE id = $1`, id)
		require.NoError(t, err)
		got, err := db.Read(ctx).Decision(id)
		require.NoError(t, err)
		assert.Equal(t, allowSteps, string(got.Steps))
		assert.Equal(t, "erased:x", got.SubjectID)
	})
}

// decisionLeaf is an allow's entry as the log writes it.
const decisionLeaf = `{"action":"decision","actor":{"client_id":"01a252c2-29b8-7b98-8ba1-07d55664b1dc","role":"service"},"outcome":"allow",` +
	`"record_sha256":"9cb34c9fb4db37a42bfe7e3aad4a71e02d7ba3b59ce8734abc1f71e302379222","relies_on":1554,` +
	`"request_id":"01a252c2-5db5-7d20-b16e-33f79b824079","seq":%d,"targets":{"action":"use","decision":"01a252c2-5db5-7dd0-b2eb-672487890dc8",` +
	`"device":"01a252c2-2eb2-743b-ae1c-e7a14dc16bf1","element":"video","purpose":"security-monitoring",` +
	`"service":"01a252c2-29b8-7b98-8ba1-07d55664b1dc","service_name":"service-client",` +
	`"subject":"eb51a06ef7b6ed854d236de52809c00b0f6908a6edbb5cb5d32e7c207c38bad1"},"time":"2026-12-07T23:06:39.418266Z"}`

// TestAuditEntriesArePacked: entries are stored packed, in about half
// their size, through both of InsertBatch's paths, and read back byte for
// byte by every reader of the table; entries written before packing (as
// their JSON) read as they did.
func TestAuditEntriesArePacked(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		leaves := []privacy.AuditLeaf{
			{Seq: 0, Leaf: []byte(fmt.Sprintf(decisionLeaf, 0)), Action: "decision", SubjectPseudonym: "eb51", CreatedAt: at},
			{Seq: 1, Leaf: []byte(fmt.Sprintf(decisionLeaf, 1)), Action: "decision", SubjectPseudonym: "eb51", CreatedAt: at},
		}
		require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.InsertBatch(nil, leaves, nil) }))
		sqlDB, err := db.SQL()
		require.NoError(t, err)
		// An entry as they were written before entries were packed.
		old := privacy.AuditLeaf{Seq: 2, Leaf: []byte(`{"action":"purpose.put","outcome":"ok","seq":2,"time":"2026-12-07T12:00:00Z"}`), Action: "purpose.put",
			CreatedAt: at}
		_, err = sqlDB.Exec(`INSERT INTO audit_entries (seq, leaf, action, subject_hmac, created_at) VALUES ($1, $2, $3, '', $4)`, old.Seq, old.Leaf,
			old.Action, at)
		require.NoError(t, err)
		leaves = append(leaves, old)

		got, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 10})
		require.NoError(t, err)
		require.Len(t, got, 3)
		for i, l := range got {
			assert.Equal(t, string(leaves[i].Leaf), string(l.Leaf))
		}
		bySubject, err := db.Read(ctx).AuditEntries(store.AuditFilter{SubjectPseudonym: "eb51", Limit: 10})
		require.NoError(t, err)
		require.Len(t, bySubject, 2)
		assert.Equal(t, string(leaves[1].Leaf), string(bySubject[1].Leaf))
		changes, err := db.Read(ctx).AuditChanges(0, 3)
		require.NoError(t, err)
		require.Len(t, changes, 1)
		assert.Equal(t, string(old.Leaf), string(changes[0].Leaf))

		var stored []byte
		require.NoError(t, sqlDB.QueryRow(`SELECT leaf FROM audit_entries WHERE seq = 0`).Scan(&stored))
		assert.Less(t, len(stored), len(leaves[0].Leaf)*3/5, "packed: %d bytes of %d", len(stored), len(leaves[0].Leaf))
		unpacked, err := store.UnpackLeaf(stored)
		require.NoError(t, err)
		assert.Equal(t, string(leaves[0].Leaf), string(unpacked))
		t.Logf("%s: an allow's entry, %d bytes, stored in %d", dialect, len(leaves[0].Leaf), len(stored))
	})
}

// TestPackedEntriesThatDoNotUnpackAreReadAsStored: a stored entry that
// begins with the version byte but does not unpack is read as it is
// stored, on both dialects, as any entry edited into bytes that are not an
// entry is: the log's verification names it (internal/audit's
// TestALeafThatIsNotJSONIsNamed). UnpackLeaf says it does not unpack.
func TestPackedEntriesThatDoNotUnpackAreReadAsStored(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		sqlDB, err := db.SQL()
		require.NoError(t, err)
		good := store.PackLeaf([]byte(fmt.Sprintf(decisionLeaf, 0)))
		for i, bad := range undecodable(good) {
			_, err := sqlDB.Exec(`INSERT INTO audit_entries (seq, leaf, action, subject_hmac, created_at) VALUES ($1, $2, 'decision', '', $3)`,
				i, bad, time.Now().UTC())
			require.NoError(t, err)
			got, err := db.Read(ctx).AuditEntries(store.AuditFilter{From: int64(i), Limit: 1})
			require.NoError(t, err, fmt.Sprintf("value %d", i))
			require.Len(t, got, 1)
			assert.Equal(t, bad, got[0].Leaf, fmt.Sprintf("value %d", i))
			_, err = store.UnpackLeaf(bad)
			assert.ErrorContains(t, err, "packed audit entry does not unpack", fmt.Sprintf("value %d", i))
		}
	})
}

// BenchmarkPack: what packing an allow's steps costs the request that
// makes it (decide packs them outside the single writer), and packing its
// entry the log's writer.
func BenchmarkPack(b *testing.B) {
	for _, c := range []struct {
		name  string
		value []byte
		pack  func([]byte) []byte
	}{
		{"steps", []byte(allowSteps), store.PackSteps},
		{"entry", []byte(fmt.Sprintf(decisionLeaf, 8017)), store.PackLeaf},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				n = len(c.pack(c.value))
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}

// TestPackedValuesRefuseTheDownMigration: going back past migration 19
// is refused while packed steps or entries are stored (SQL cannot unpack
// them, and the binary before does not read them); without any, it runs.
func TestPackedValuesRefuseTheDownMigration(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		for _, what := range []string{"steps", "entry"} {
			db := storetest.MustOpenDB(t, dialect, nil)
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
				if what == "steps" {
					return tx.InsertBatch([]store.DecisionRecord{decisionRecord(uuid.Must(uuid.NewV7()).String(), 1, allowSteps, time.Now().UTC())}, nil, nil)
				}
				return tx.InsertBatch(nil, []privacy.AuditLeaf{{Seq: 0, Leaf: []byte(fmt.Sprintf(decisionLeaf, 0)), Action: "decision",
					CreatedAt: time.Now().UTC()}}, nil)
			}))
			err := db.MigrateDownTo(ctx, 18)
			require.Error(t, err, what)
			assert.Contains(t, err.Error(), "stored packed", what)
			current, _, err := db.SchemaVersion(ctx)
			require.NoError(t, err)
			assert.EqualValues(t, 19, current, what)
		}
		db := storetest.MustOpenDB(t, dialect, nil)
		require.NoError(t, db.MigrateDownTo(ctx, 18))
		_, err := db.Migrate(ctx)
		require.NoError(t, err)
	})
}
