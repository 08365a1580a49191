package decide

import (
	"context"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// Prepared is a batch evaluated, not yet recorded.
type Prepared = prepared

// Prepare evaluates rs on read as DecideBatch does before the writer,
// so a test can evaluate at a chosen moment and record later.
func (s *Service) Prepare(read *store.Reader, rs []Request) (Prepared, error) {
	return s.prepare(read, rs)
}

// Record appends a prepared batch as DecideBatch does.
func (s *Service) Record(ctx context.Context, rs []Request, p Prepared) ([]Decision, error) {
	return s.record(ctx, rs, p)
}

// Facts is what memory holds, or what a full load reads, in the parts a
// decision reads: for comparison.
type Facts struct {
	Devices map[string]DeviceFacts
	Notices map[string]NoticeFacts
	Consent map[string]privacy.ConsentState
	// Children: subject → majority ("" unknown), for each declared child.
	Children map[string]string
}

// DeviceFacts is a device's facts as decisions read them.
type DeviceFacts = deviceFacts

// NoticeFacts is a notice's facts as decisions read them.
type NoticeFacts struct {
	InForce  int
	Stated   map[string][]string // purpose → elements, in the version in force
	Material map[int][]string
}

func forComparison(f facts) Facts {
	out := Facts{Devices: f.devices, Notices: map[string]NoticeFacts{}, Consent: map[string]privacy.ConsentState{}, Children: map[string]string{}}
	for subject, c := range f.children {
		out.Children[subject] = ""
		if !c.MajorityAt.IsZero() {
			out.Children[subject] = c.MajorityAt.Format(time.RFC3339Nano)
		}
	}
	for key, n := range f.notices {
		c := NoticeFacts{InForce: n.InForce.Version, Stated: map[string][]string{}, Material: map[int][]string{}}
		for _, p := range n.InForce.Content.Purposes {
			c.Stated[p.Purpose] = p.Elements
		}
		for v, ps := range n.Material {
			c.Material[v] = append([]string{}, ps...)
		}
		out.Notices[key] = c
	}
	for k, st := range f.consent {
		out.Consent[k.device+"/"+k.subject+"/"+k.purpose] = st
	}
	return out
}

// MemoryAndDatabase returns what memory holds (false: it is not
// complete) and what a full load reads from the database now.
func (s *Service) MemoryAndDatabase(ctx context.Context) (Facts, Facts, bool, error) {
	loaded, err := loadFacts(s.db.Read(ctx))
	if err != nil {
		return Facts{}, Facts{}, false, err
	}
	s.memory.mu.RLock()
	defer s.memory.mu.RUnlock()
	return forComparison(s.memory.facts), forComparison(loaded), s.memory.complete, nil
}

// Loads is the number of full loads of memory so far.
func (s *Service) Loads() int64 { return s.memory.loads.Load() }

// LoadFacts loads every fact from the database, as the writer does, and
// returns how many consent states it holds.
func (s *Service) LoadFacts(ctx context.Context) (any, int, error) {
	f, err := loadFacts(s.db.Read(ctx))
	return f, len(f.consent), err
}
