package consent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// DeviceView is what one device does with a subject's data (Control 33).
type DeviceView struct {
	Device    privacy.Device
	NoticeKey string
	// Role is how the subject is on the device: owner, member or guest
	// ("" where they only made a choice); Until ends a guest's stay.
	Role  string
	Until time.Time
	// Others are the other people on the device: its owner and members.
	Others   []Sharer
	Purposes []PurposeView
}

// Sharer is someone on a device: its owner, a member or a guest.
type Sharer struct {
	Subject string
	Role    string
	Until   time.Time
}

// PurposeView is one purpose on one device, in plain language.
type PurposeView struct {
	Purpose    privacy.Purpose
	Elements   []privacy.DataElement
	Recipients []string
	Retention  string // the longest retention among the elements
	Status     privacy.ConsentStatus
	Since      time.Time // when the subject last chose; zero if never
	ExpiresAt  time.Time
	Summary    string
}

// Privacy is the subject's view: every device that concerns them (owned,
// shared, or consented on), who else is on it, what each collects, for which purposes, who receives
// it, for how long, and their choice for each.
func (s *Service) Privacy(ctx context.Context, subject string) ([]DeviceView, error) {
	var p privacy.Problems
	privacy.CheckSubject(&p, "subject", subject)
	if err := p.Err("invalid subject"); err != nil {
		return nil, err
	}
	tx := s.db.Read(ctx)
	owned, err := tx.DevicesOwnedBy(subject)
	if err != nil {
		return nil, err
	}
	shared, err := tx.MembershipsOf(subject)
	if err != nil {
		return nil, err
	}
	states, err := tx.ConsentStates(subject, "")
	if err != nil {
		return nil, err
	}
	catalogue, err := tx.ListPurposes()
	if err != nil {
		return nil, err
	}
	purposeByKey := map[string]privacy.Purpose{}
	for _, cp := range catalogue {
		purposeByKey[cp.Key] = cp
	}
	devices := owned
	ids := make([]string, 0, len(shared)+len(states))
	for _, m := range shared {
		ids = append(ids, m.DeviceID)
	}
	for _, st := range states {
		ids = append(ids, st.DeviceID)
	}
	for _, id := range ids {
		if !slices.ContainsFunc(devices, func(d privacy.Device) bool { return d.ID == id }) {
			d, err := tx.DeviceByID(id)
			if err != nil {
				return nil, err
			}
			devices = append(devices, d)
		}
	}
	changed := materialSince(tx)
	now := tx.Now()
	out := []DeviceView{}
	for _, d := range devices {
		view := DeviceView{Device: d, NoticeKey: d.NoticeKey, Others: []Sharer{}, Purposes: []PurposeView{}}
		if d.OwnerSubject == subject {
			view.Role = "owner"
		} else if d.OwnerSubject != "" && !privacy.IsErasedSubject(d.OwnerSubject) {
			view.Others = append(view.Others, Sharer{Subject: d.OwnerSubject, Role: "owner"})
		}
		members, err := tx.Members(d.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if m.Subject == subject {
				view.Role, view.Until = string(m.Role), m.Until
			} else {
				view.Others = append(view.Others, Sharer{Subject: m.Subject, Role: string(m.Role), Until: m.Until})
			}
		}
		inv, err := tx.InventoryVersion(d.ID, 0)
		if err != nil && privacy.ErrorCode(err) != privacy.ENotFound {
			return nil, err
		}
		byPurpose := map[string][]privacy.DataElement{}
		var order []string
		for _, e := range inv.Elements {
			for _, pk := range e.Purposes {
				if _, ok := byPurpose[pk]; !ok {
					order = append(order, pk)
				}
				byPurpose[pk] = append(byPurpose[pk], e)
			}
		}
		for _, pk := range order {
			pv := PurposeView{Purpose: purposeByKey[pk], Elements: byPurpose[pk], Recipients: []string{}, Status: privacy.StatusDenied}
			if pv.Purpose.Key == "" {
				pv.Purpose = privacy.Purpose{Key: pk, Name: pk}
			}
			for _, e := range pv.Elements {
				for _, r := range e.Recipients {
					if !slices.Contains(pv.Recipients, r) {
						pv.Recipients = append(pv.Recipients, r)
					}
				}
				if pv.Retention == "" || privacy.RetentionSpan(e.Retention) > privacy.RetentionSpan(pv.Retention) {
					pv.Retention = e.Retention
				}
			}
			for _, st := range states {
				if st.DeviceID == d.ID && st.Purpose == pk {
					pv.Status, pv.Since, pv.ExpiresAt = st.Status(now, changed), st.UpdatedAt, st.ExpiresAt
				}
			}
			pv.Summary = summary(d, pv)
			view.Purposes = append(view.Purposes, pv)
		}
		out = append(out, view)
	}
	return out, nil
}

// summary says, in one plain sentence or three, what happens and what the
// subject chose.
func summary(d privacy.Device, pv PurposeView) string {
	names := make([]string, len(pv.Elements))
	for i, e := range pv.Elements {
		names[i] = e.Description
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your %s %s collects %s for %s", d.Manufacturer, d.Model, list(names), strings.ToLower(pv.Purpose.Name))
	if pv.Purpose.Description != "" {
		fmt.Fprintf(&b, ": %s", strings.TrimSuffix(pv.Purpose.Description, "."))
	}
	fmt.Fprintf(&b, ". It is kept for up to %s", words(pv.Retention))
	if len(pv.Recipients) == 0 {
		b.WriteString(" and not shared with anyone else.")
	} else {
		fmt.Fprintf(&b, " and shared with %s.", list(pv.Recipients))
	}
	switch pv.Status {
	case privacy.StatusGranted:
		fmt.Fprintf(&b, " You agreed on %s; your consent lasts until %s unless you withdraw it.", pv.Since.Format("2 January 2006"), pv.ExpiresAt.Format("2 January 2006"))
	case privacy.StatusWithdrawn:
		fmt.Fprintf(&b, " You withdrew your consent on %s.", pv.Since.Format("2 January 2006"))
	case privacy.StatusExpired:
		fmt.Fprintf(&b, " Your consent expired on %s; it is not used until you agree again.", pv.ExpiresAt.Format("2 January 2006"))
	case privacy.StatusReconsentRequired:
		b.WriteString(" The notice changed for this purpose since you agreed; it is not used until you agree again.")
	default:
		if pv.Since.IsZero() {
			b.WriteString(" You have not agreed to this, so it is not used.")
		} else {
			fmt.Fprintf(&b, " You declined on %s, so it is not used.", pv.Since.Format("2 January 2006"))
		}
	}
	return b.String()
}

func list(items []string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// words writes an ISO 8601 duration in English words.
func words(iso string) string {
	d, err := privacy.ParseDuration(iso)
	if err != nil {
		return iso
	}
	var parts []string
	for _, u := range []struct {
		v    float64
		name string
	}{{d.Years, "year"}, {d.Months, "month"}, {d.Weeks, "week"}, {d.Days, "day"}, {d.Hours, "hour"}, {d.Minutes, "minute"}, {d.Seconds, "second"}} {
		if u.v == 0 {
			continue
		}
		n := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", u.v), "0"), ".")
		if u.v == 1 {
			parts = append(parts, n+" "+u.name)
		} else {
			parts = append(parts, n+" "+u.name+"s")
		}
	}
	return strings.Join(parts, " ")
}
