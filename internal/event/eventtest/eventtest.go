// Package eventtest holds one event of every kind, for tests that must
// cover them all. Only tests import it.
package eventtest

import (
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
)

// Examples returns one event of every kind, for tests that must cover
// them all (the event package's own test checks that none is missing).
func Examples() []event.Event {
	c := event.Consent{ConsentState: privacy.ConsentState{SubjectID: "alice", DeviceID: "d1", Purpose: "navigation", RecordID: "r1",
		NoticeKey: "tracker", NoticeVersion: 2, Granted: true}, ReceiptSHA256: "ab", RecordSHA256: "ef"}
	v := privacy.NoticeVersion{NoticeKey: "tracker", Version: 2, ContentHash: "cd", MaterialPurposes: []string{"navigation"}}
	t := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	return []event.Event{
		event.Decision{ID: "x1", ServiceID: "s1", ServiceName: "route-planner", Subject: "alice", DeviceID: "d1", Element: "location", Purpose: "navigation", DataAction: "use",
			Allow: true, ConsentSeq: 4, StepsSHA256: "b1"},
		event.ConsentRecorded{Consent: c}, event.ConsentWithdrawn{Consent: c}, event.ConsentStateRebuilt{},
		event.DeviceRegistered{Device: privacy.Device{ID: "d1", Status: privacy.DeviceActive, NoticeKey: "tracker"}, RecordSHA256: "a1"},
		event.DeviceStatusChanged{Device: privacy.Device{ID: "d1", Status: privacy.DeviceDeactivated, NoticeKey: "tracker"}, RecordSHA256: "a2"},
		event.InventoryDeclared{Inventory: privacy.Inventory{DeviceID: "d1", Version: 1}, Owner: "alice", RecordSHA256: "a3"},
		event.NoticeCreated{Notice: privacy.Notice{Key: "tracker"}}, event.NoticeVersionDrafted{Version: v}, event.NoticeVersionUpdated{Version: v},
		event.NoticeVersionDeleted{Version: v}, event.NoticePublished{Version: v},
		event.PurposePut{Purpose: privacy.Purpose{Key: "navigation"}, Created: true},
		event.PolicyRuleAdded{Rule: event.PolicyRule{Service: "s", Category: "*", Purpose: "*", Action: "use", Effect: "allow"}},
		event.PolicyRuleRemoved{Rule: event.PolicyRule{Service: "s", Category: "*", Purpose: "*", Action: "use", Effect: "allow"}},
		event.PolicyGroupAdded{Group: event.PolicyGroup{Member: "a", Group: "g"}}, event.PolicyGroupRemoved{Group: event.PolicyGroup{Member: "a", Group: "g"}},
		event.ClientCreated{Client: privacy.Client{ID: "c1", Role: "admin"}}, event.ClientRevoked{Client: privacy.Client{ID: "c1", Role: "admin"}},
		event.ClientRotated{Client: privacy.Client{ID: "c1", Role: "admin"}},
		event.WebhookCreated{ID: "w1", URL: "https://b.example/h", Kinds: []privacy.WebhookKind{privacy.KindConsentGranted}},
		event.WebhookDeleted{ID: "w1"}, event.WebhookRetried{WebhookID: "w1", Delivery: 3},
		event.FindingAcknowledged{ID: "f1", Kind: "k", Fingerprint: "fp"}, event.ReceiptKeyRotated{KID: "k2", Previous: "k1"},
		event.EvidenceExported{AuditSize: 10, From: t, To: t.Add(time.Hour), Profile: "pseudonymous"}, event.SubjectTokenIssued{Subject: "alice", ExpiresAt: t},
		event.RequestReceived{Request: privacy.SubjectRequest{ID: "r1", Type: privacy.RequestErasure, SubjectID: "alice", DueAt: t.AddDate(0, 0, 30),
			ReceiptSHA256: "c1"}},
		event.SubjectErased{Subject: "alice", RequestID: "r1", Pseudonym: "p1", Erased: privacy.ErasedCounts{ConsentRecords: 2, Receipts: 2, Decisions: 5}},
		event.RequestConfirmed{RequestID: "r1", WebhookID: "w1", Pseudonym: "p1"},
		event.RequestCompleted{Request: privacy.SubjectRequest{ID: "r1", Type: privacy.RequestErasure, State: privacy.RequestCompleted, Pseudonym: "p1"}},
		event.SanitizationAttested{DeviceID: "d1", Method: "purge", PayloadSHA256: "e1"},
		event.DeviceTransferred{Device: privacy.Device{ID: "d1", Status: privacy.DeviceActive, OwnerSubject: "alice"}, PreviousPseudonym: "p0",
			RecordSHA256: "a4"},
		event.DeviceUpdated{Device: privacy.Device{ID: "d1", Status: privacy.DeviceActive, Firmware: "1.5.0", OwnerSubject: "alice"},
			Changed: []string{"firmware", "label"}, RecordSHA256: "a5"},
		event.MemberAdded{Member: privacy.Member{DeviceID: "d1", Subject: "alice", Role: privacy.RoleGuest, Until: t.Add(48 * time.Hour)}},
		event.MemberRemoved{Member: privacy.Member{DeviceID: "d1", Subject: "alice", Role: privacy.RoleGuest}, Reason: "guest_expired"},
		event.ChildDeclared{Child: privacy.Child{Subject: "alice", AgeBand: "13_15", MajorityAt: t.AddDate(3, 0, 0)}, Guardians: []string{"p2", "p3"}},
		event.MajorityDeclared{Subject: "alice", At: t},
		event.ServerStarted{Addr: "127.0.0.1:8080"}, event.ServerStopped{},
		event.PersonalDataRead{Subject: "alice", Route: "/v1/subjects/:subject/privacy"}, event.Unknown{Name: "future.kind"},
	}
}
