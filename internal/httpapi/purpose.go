package httpapi

import (
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// purposeRequest creates or replaces a purpose.
type purposeRequest struct {
	// Short name shown to people.
	Name string `json:"name" binding:"required" maxLength:"200" example:"Energy usage insights"`
	// Plain-language description shown in notices.
	Description string `json:"description" binding:"required" maxLength:"4000" example:"We analyse your energy use to suggest savings."`
	// The lawful ground (GDPR Art. 6(1)).
	LegalBasis string `json:"legal_basis" binding:"required" enums:"consent,contract,legal_obligation,vital_interests,public_task,legitimate_interests" example:"consent"`
}

// purposeResponse is one catalogue entry.
type purposeResponse struct {
	Key         string    `json:"key" example:"energy-insights"`
	Name        string    `json:"name" example:"Energy usage insights"`
	Description string    `json:"description" example:"We analyse your energy use to suggest savings."`
	LegalBasis  string    `json:"legal_basis" enums:"consent,contract,legal_obligation,vital_interests,public_task,legitimate_interests" example:"consent"`
	CreatedAt   time.Time `json:"created_at" format:"date-time"`
	UpdatedAt   time.Time `json:"updated_at" format:"date-time"`
}

func newPurposeResponse(p privacy.Purpose) purposeResponse {
	return purposeResponse{Key: p.Key, Name: p.Name, Description: p.Description, LegalBasis: string(p.LegalBasis),
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// purposeList is the whole catalogue.
type purposeList struct {
	Items []purposeResponse `json:"items"`
}

// putPurpose creates or replaces a purpose.
//
// @Summary  Create or replace a purpose
// @ID       putPurpose
// @Description The key is the purpose's identity: lower-case letters, digits, '_', '.', '-', starting with a letter, at most 64 characters.
// @Tags     purposes
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    key  path string true "purpose key" example(energy-insights)
// @Param    body body purposeRequest true "the purpose"
// @Success  200 {object} purposeResponse "replaced"
// @Success  201 {object} purposeResponse "created"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not write purposes"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid key or fields"
// @Router   /v1/purposes/{key} [put]
func (s *Server) putPurpose(c *gin.Context) error {
	var req purposeRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, created, err := s.purposes.Put(c.Request.Context(), privacy.Purpose{Key: c.Param("key"), Name: req.Name,
		Description: req.Description, LegalBasis: privacy.LegalBasis(req.LegalBasis)})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(c, status, newPurposeResponse(p))
	return nil
}

// listPurposes returns the catalogue.
//
// @Summary  List purposes
// @ID       listPurposes
// @Tags     purposes
// @Security BearerAuth
// @Produce  json
// @Success  200 {object} purposeList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read purposes"
// @Router   /v1/purposes [get]
func (s *Server) listPurposes(c *gin.Context) error {
	ps, err := s.purposes.List(c.Request.Context())
	if err != nil {
		return err
	}
	out := purposeList{Items: make([]purposeResponse, len(ps))}
	for i, p := range ps {
		out.Items[i] = newPurposeResponse(p)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}
