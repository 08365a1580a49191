package privacy

import "time"

// LegalBasis is the lawful ground for processing for a purpose, named after
// GDPR Article 6(1) since that is the list most operators must answer to.
type LegalBasis string

// The legal bases, GDPR Art. 6(1)(a)–(f).
const (
	BasisConsent             LegalBasis = "consent"
	BasisContract            LegalBasis = "contract"
	BasisLegalObligation     LegalBasis = "legal_obligation"
	BasisVitalInterests      LegalBasis = "vital_interests"
	BasisPublicTask          LegalBasis = "public_task"
	BasisLegitimateInterests LegalBasis = "legitimate_interests"
)

// LegalBases lists every legal basis.
var LegalBases = []LegalBasis{BasisConsent, BasisContract, BasisLegalObligation, BasisVitalInterests, BasisPublicTask, BasisLegitimateInterests}

// Valid reports whether b is one of LegalBases.
func (b LegalBasis) Valid() bool {
	for _, v := range LegalBases {
		if b == v {
			return true
		}
	}
	return false
}

// Purpose is an entry of the purpose catalogue: the "why" that every data
// element, notice and consent refers to by Key.
type Purpose struct {
	Key         string
	Name        string
	Description string
	LegalBasis  LegalBasis
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Validate checks a purpose before it is stored.
func (p *Purpose) Validate() error {
	var pr Problems
	if !ValidKey(p.Key) {
		pr.Add("key", keyRule)
	}
	checkText(&pr, "name", p.Name, true, 200, oneLine)
	checkText(&pr, "description", p.Description, true, 4000, multiline)
	if !p.LegalBasis.Valid() {
		pr.Add("legal_basis", "must be one of consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests")
	}
	return pr.Err("invalid purpose")
}
