package consent

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/consentry/consentry/internal/privacy"
)

// Receipt is a consent receipt: the Kantara Initiative Consent Receipt
// v1.1 fields (they validate unchanged against its schema) and, under
// "iso27560", the ISO/IEC TS 27560 consent record fields it lacks.
type Receipt struct {
	Version          string          `json:"version"`
	Jurisdiction     string          `json:"jurisdiction"`
	ConsentTimestamp int64           `json:"consentTimestamp"`
	CollectionMethod string          `json:"collectionMethod"`
	ConsentReceiptID string          `json:"consentReceiptID"`
	PublicKey        string          `json:"publicKey"`
	Language         string          `json:"language"`
	PIIPrincipalID   string          `json:"piiPrincipalId"`
	PIIControllers   []piiController `json:"piiControllers"`
	PolicyURL        string          `json:"policyUrl"`
	Services         []service       `json:"services"`
	Sensitive        bool            `json:"sensitive"`
	SPICat           []string        `json:"spiCat"`
	ISO27560         iso27560        `json:"iso27560"`
}

type piiController struct {
	PIIController string         `json:"piiController"`
	Contact       string         `json:"contact"`
	Address       map[string]any `json:"address"`
	Email         string         `json:"email"`
	Phone         string         `json:"phone"`
}

type service struct {
	Service  string           `json:"service"`
	Purposes []servicePurpose `json:"purposes"`
}

type servicePurpose struct {
	Purpose              string   `json:"purpose"`
	ConsentType          string   `json:"consentType"`
	PurposeCategory      []string `json:"purposeCategory"`
	PIICategory          []string `json:"piiCategory"`
	PrimaryPurpose       bool     `json:"primaryPurpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"thirdPartyDisclosure"`
	ThirdPartyName       string   `json:"thirdPartyName,omitempty"`
}

// iso27560 carries what ISO/IEC TS 27560 records and Kantara v1.1 does not.
type iso27560 struct {
	SchemaVersion  string         `json:"schema_version"`
	RecordID       string         `json:"record_id"`
	PIIPrincipalID string         `json:"pii_principal_id"`
	EventType      string         `json:"event_type"`
	EventTime      string         `json:"event_time"`
	ClientTime     string         `json:"client_time,omitempty"`
	PrivacyNotice  noticeRef      `json:"privacy_notice"`
	Language       string         `json:"language"`
	DeviceID       string         `json:"device_id"`
	Withdraws      string         `json:"withdraws,omitempty"`
	Purposes       []purposeEvent `json:"purposes"`
	Withdrawal     string         `json:"withdrawal_method"`
	// WithdrawalReason is why the service withdrew, when the person did not.
	WithdrawalReason string `json:"withdrawal_reason,omitempty"`
	// Guardian is, for a proxy consent, the guardian who gave it with the
	// child (pii_principal_id).
	Guardian string `json:"guardian,omitempty"`
}

type noticeRef struct {
	Key     string `json:"key"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	URL     string `json:"url"`
}

type purposeEvent struct {
	Purpose          string   `json:"purpose"`
	EventState       string   `json:"event_state"`
	LawfulBasis      string   `json:"lawful_basis"`
	PIIInformation   []string `json:"pii_information"`
	CollectionMethod []string `json:"collection_method"`
	RetentionPeriod  string   `json:"retention_period"`
	Recipients       []string `json:"recipient_third_parties"`
	ValidityDuration string   `json:"validity_duration,omitempty"`
	Expiry           string   `json:"expiry,omitempty"`
}

// receiptInput is what a receipt is built from.
type receiptInput struct {
	rec       privacy.ConsentRecord
	notice    privacy.NoticeVersion
	device    privacy.Device
	inventory privacy.Inventory // the device's current inventory; may be empty
	publicURL string
	kid       string
}

const timeFormat = "2006-01-02T15:04:05.000000Z"

// buildReceipt makes the receipt for a record. Kantara's services list
// the purposes consented to; every choice (refusals and withdrawals too)
// is in iso27560.purposes.
func buildReceipt(in receiptInput) ([]byte, error) {
	rec, c := in.rec, in.notice.Content
	jurisdiction := c.Controller.Jurisdiction
	if jurisdiction == "" {
		jurisdiction = "unspecified"
	}
	email := ""
	if strings.Contains(c.Controller.Contact, "@") {
		email = c.Controller.Contact
	}
	noticeURL := fmt.Sprintf("%s/notices/%s?locale=%s", strings.TrimRight(in.publicURL, "/"), rec.NoticeKey, rec.Locale)
	r := Receipt{
		Version: "KI-CR-v1.1.0", Jurisdiction: jurisdiction, ConsentTimestamp: rec.CreatedAt.Unix(), CollectionMethod: string(rec.Method),
		ConsentReceiptID: rec.ID, PublicKey: in.kid, Language: rec.Locale, PIIPrincipalID: rec.SubjectID,
		PIIControllers: []piiController{{PIIController: c.Controller.Name, Contact: c.Controller.Contact,
			Address: map[string]any{"streetAddress": c.Controller.Address}, Email: email, Phone: ""}},
		PolicyURL: noticeURL,
		Services:  []service{{Service: fmt.Sprintf("%s %s (device %s)", in.device.Manufacturer, in.device.Model, rec.DeviceID), Purposes: []servicePurpose{}}},
		SPICat:    []string{},
		ISO27560: iso27560{SchemaVersion: "ISO/IEC TS 27560:2023", RecordID: rec.ID, PIIPrincipalID: rec.SubjectID,
			EventTime: rec.CreatedAt.UTC().Format(timeFormat), Language: rec.Locale, DeviceID: rec.DeviceID, Withdraws: rec.Withdraws,
			PrivacyNotice: noticeRef{Key: rec.NoticeKey, Version: rec.NoticeVersion, SHA256: rec.NoticeHash, URL: noticeURL},
			Purposes:      []purposeEvent{}, Withdrawal: withdrawalMethod(rec), WithdrawalReason: rec.Reason, Guardian: rec.Guardian,
		},
	}
	if !rec.ClientTime.IsZero() {
		r.ISO27560.ClientTime = rec.ClientTime.UTC().Format(timeFormat)
	}
	r.ISO27560.EventType = "consent given"
	if rec.Kind == privacy.RecordWithdrawal {
		r.ISO27560.EventType = "consent withdrawn"
	}
	for _, ch := range rec.Choices {
		np, _ := c.Purpose(ch.Purpose)
		state := "refused"
		switch {
		case rec.Kind == privacy.RecordWithdrawal:
			state = "withdrawn"
		case ch.Granted:
			state = "given"
		}
		methods := make([]string, len(np.CollectionMethods))
		for i, m := range np.CollectionMethods {
			methods[i] = string(m)
		}
		ev := purposeEvent{Purpose: ch.Purpose, EventState: state, LawfulBasis: string(np.LegalBasis), PIIInformation: nonNil(np.Elements),
			CollectionMethod: methods, RetentionPeriod: np.Retention, Recipients: nonNil(np.Recipients)}
		if ch.Granted && rec.Kind == privacy.RecordConsent {
			ev.ValidityDuration, ev.Expiry = np.ConsentValidity(), ch.ExpiresAt.UTC().Format(timeFormat)
			sp := servicePurpose{Purpose: ch.Purpose, ConsentType: "EXPLICIT", PurposeCategory: []string{ch.Purpose},
				PIICategory: nonNil(np.Elements), Termination: "on withdrawal, or at " + ev.Expiry + " (validity " + ev.ValidityDuration + ")",
				ThirdPartyDisclosure: len(np.Recipients) > 0, ThirdPartyName: strings.Join(np.Recipients, ", ")}
			r.Services[0].Purposes = append(r.Services[0].Purposes, sp)
			for _, e := range in.inventory.Elements {
				if e.Sensitivity == privacy.SensitivitySensitive && slices.Contains(e.Purposes, ch.Purpose) && !slices.Contains(r.SPICat, e.Category) {
					r.SPICat = append(r.SPICat, e.Category)
				}
			}
		}
		r.ISO27560.Purposes = append(r.ISO27560.Purposes, ev)
	}
	slices.Sort(r.SPICat)
	r.Sensitive = len(r.SPICat) > 0
	return json.Marshal(r)
}

// withdrawalMethod is the call that withdraws what a record gave. A
// withdrawal record cannot itself be withdrawn: its receipt names the call
// that withdraws what is left of the record it withdrew from or, for a
// withdrawal of everything, the subject's.
func withdrawalMethod(rec privacy.ConsentRecord) string {
	switch {
	case rec.Kind != privacy.RecordWithdrawal:
		return "POST /v1/consents/" + rec.ID + "/withdraw"
	case rec.Withdraws != "":
		return "POST /v1/consents/" + rec.Withdraws + "/withdraw"
	default:
		return "POST /v1/subjects/" + url.PathEscape(rec.SubjectID) + "/withdraw"
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
