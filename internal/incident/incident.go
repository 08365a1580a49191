// Package incident answers the question an incident raises (Control 35-1):
// which devices are affected, whose are they, what may be done with
// their data, and to whom it goes.
package incident

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"golang.org/x/mod/semver"
)

// Query selects the affected devices. Manufacturer and model match as a
// device search does (case-insensitively); the firmware bounds are
// inclusive and compare as versions (1.10 is after 1.9). They apply to
// the firmware a device runs now, or ran at AsOf, or ever ran (Ever),
// from the history of its updates.
type Query struct {
	Manufacturer, Model      string
	FirmwareFrom, FirmwareTo string
	AsOf                     time.Time
	Ever                     bool
}

// Validate checks the query before anything is read.
func (q Query) Validate() error {
	var p privacy.Problems
	if strings.TrimSpace(q.Manufacturer) == "" {
		p.Add("manufacturer", "is required: an incident concerns one manufacturer's devices")
	}
	if q.FirmwareFrom != "" && q.FirmwareTo != "" && compareFirmware(q.FirmwareFrom, q.FirmwareTo) > 0 {
		p.Add("firmware_to", "must not be before firmware_from")
	}
	if (!q.AsOf.IsZero() || q.Ever) && q.FirmwareFrom == "" && q.FirmwareTo == "" {
		p.Add("as_of", "as_of and ever choose which firmware firmware_from and firmware_to apply to: give a bound")
	}
	if !q.AsOf.IsZero() && q.Ever {
		p.Add("ever", "give as_of or ever, not both")
	}
	return p.Err("invalid incident query")
}

// Affected is one device and what its data is exposed to.
type Affected struct {
	Device privacy.Device
	// Subjects are the owner and everyone with a consent state on the
	// device, sorted.
	Subjects []string
	// Purposes have a consent in force (granted, unexpired, not awaiting
	// re-consent) for at least one subject.
	Purposes []string
	// Recipients are those the current inventory declares for the
	// elements collected for Purposes: who receives the data.
	Recipients []string
}

// Service finds affected devices.
type Service struct{ db *store.DB }

// NewService returns a Service reading db.
func NewService(db *store.DB) *Service { return &Service{db: db} }

const pageSize = 500

// Devices calls each for every affected device, in id order, reading a
// page at a time: a CSV of any size is written in constant memory.
func (s *Service) Devices(ctx context.Context, q Query, each func(Affected) error) error {
	if err := q.Validate(); err != nil {
		return err
	}
	f := privacy.DeviceFilter{Manufacturer: q.Manufacturer, Model: q.Model, Limit: pageSize}
	for {
		tx := s.db.Read(ctx)
		judge := tx.MaterialJudge()
		devices, more, err := tx.ListDevices(f)
		if err != nil {
			return err
		}
		for _, d := range devices {
			f.After = d.ID
			hit, err := q.ran(tx, d)
			if err != nil {
				return err
			}
			if !hit {
				continue
			}
			a, err := affected(tx, d, tx.Now(), judge)
			if err != nil {
				return err
			}
			if err := each(a); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

func affected(tx *store.Reader, d privacy.Device, now time.Time, judge *store.MaterialJudge) (Affected, error) {
	a := Affected{Device: d, Subjects: []string{}, Purposes: []string{}, Recipients: []string{}}
	if d.OwnerSubject != "" {
		a.Subjects = append(a.Subjects, d.OwnerSubject)
	}
	states, err := tx.DeviceConsentStates(d.ID)
	if err != nil {
		return Affected{}, err
	}
	for _, st := range states {
		a.Subjects = append(a.Subjects, st.SubjectID)
		status := st.Status(now, judge.Since)
		if status != privacy.StatusGranted {
			continue
		}
		a.Purposes = append(a.Purposes, st.Purpose)
	}
	if judge.Err != nil {
		return Affected{}, judge.Err
	}
	slices.Sort(a.Subjects)
	a.Subjects = slices.Compact(a.Subjects)
	slices.Sort(a.Purposes)
	a.Purposes = slices.Compact(a.Purposes)
	inv, err := tx.InventoryVersion(d.ID, 0)
	switch privacy.ErrorCode(err) {
	case "":
		for _, e := range inv.Elements {
			if slices.ContainsFunc(e.Purposes, func(p string) bool { return slices.Contains(a.Purposes, p) }) {
				a.Recipients = append(a.Recipients, e.Recipients...)
			}
		}
	case privacy.ENotFound:
	default:
		return Affected{}, err
	}
	slices.Sort(a.Recipients)
	a.Recipients = slices.Compact(a.Recipients)
	return a, nil
}

// ran reports whether d ran a firmware within the query's bounds: now, at
// AsOf, or ever.
func (q Query) ran(tx *store.Reader, d privacy.Device) (bool, error) {
	if q.AsOf.IsZero() && !q.Ever || q.FirmwareFrom == "" && q.FirmwareTo == "" {
		return inRange(d.Firmware, q.FirmwareFrom, q.FirmwareTo), nil
	}
	history, err := tx.DeviceAttributeHistory(d.ID)
	if err != nil {
		return false, err
	}
	if q.Ever {
		return slices.ContainsFunc(history, func(a privacy.DeviceAttributes) bool {
			return inRange(a.Firmware, q.FirmwareFrom, q.FirmwareTo)
		}), nil
	}
	// The newest set no later than AsOf; none: the device was not yet
	// registered then.
	firmware, known := "", false
	for _, a := range history {
		if !a.Since.After(q.AsOf) {
			firmware, known = a.Firmware, true
		}
	}
	return known && inRange(firmware, q.FirmwareFrom, q.FirmwareTo), nil
}

func inRange(firmware, from, to string) bool {
	return (from == "" || compareFirmware(firmware, from) >= 0) && (to == "" || compareFirmware(firmware, to) <= 0)
}

// compareFirmware compares two firmware versions: as semantic versions
// when both are (with or without a leading v), else as text.
func compareFirmware(a, b string) int {
	va, vb := "v"+strings.TrimPrefix(a, "v"), "v"+strings.TrimPrefix(b, "v")
	if semver.IsValid(va) && semver.IsValid(vb) {
		return semver.Compare(va, vb)
	}
	return strings.Compare(a, b)
}
