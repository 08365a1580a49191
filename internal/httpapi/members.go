package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// memberBody adds someone to a device's household.
type memberBody struct {
	// The member's subject id.
	Subject string `json:"subject" binding:"required" maxLength:"200" example:"user-4c11"`
	// member stays until removed; guest until `until`.
	Role string `json:"role" binding:"required" enums:"member,guest" example:"guest"`
	// A guest's end (required for a guest, within a year; not for a member).
	Until *time.Time `json:"until,omitempty" format:"date-time"`
}

// memberResponse is someone sharing a device with its owner.
type memberResponse struct {
	DeviceID string `json:"device_id" format:"uuid"`
	// The member's subject id (for auditors, their pseudonym).
	Subject string     `json:"subject" example:"user-4c11"`
	Role    string     `json:"role" enums:"member,guest" example:"guest"`
	Until   *time.Time `json:"until,omitempty" format:"date-time"`
	AddedAt time.Time  `json:"added_at" format:"date-time"`
	// The client that added them.
	AddedBy string `json:"added_by" format:"uuid"`
	// The audit entry that added them.
	AuditSeq int64 `json:"audit_seq"`
}

func newMemberResponse(m privacy.Member) memberResponse {
	return memberResponse{DeviceID: m.DeviceID, Subject: m.Subject, Role: string(m.Role), Until: optionalTime(m.Until), AddedAt: m.AddedAt,
		AddedBy: m.AddedBy, AuditSeq: m.AuditSeq}
}

// memberList is a device's members and guests.
type memberList struct {
	Items []memberResponse `json:"items"`
}

// addMember adds someone to a device's household.
//
// @Summary  Share a device with a member or guest
// @ID       addDeviceMember
// @Description The owner (with their subject token) or an admin lets another person share the device: a household member, or a guest until an end. Each person on a device consents for themselves, with their own receipts: nobody consents for another adult, and decisions are per subject. A guest's grants end with their stay; when it ends, or a member is removed or leaves, their consents on the device end with withdrawal receipts (reason guest_expired or member_removed), as at a transfer or disposal, which also end every membership. Audited (household.member_added). To change how someone shares the device, remove them first.
// @Tags     devices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string     true "device id" format(uuid)
// @Param    body body memberBody true "who, and how"
// @Success  201 {object} memberResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not add members"
// @Failure  404 {object} problem "no such device, or (subject token) not one of theirs"
// @Failure  409 {object} problem "the device is disposed (invalid_transition), has no owner, or the subject is its owner or already on it (conflict)"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "bad subject, role or until"
// @Router   /v1/devices/{id}/members [post]
func (s *Server) addMember(c *gin.Context) error {
	var req memberBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	m := privacy.Member{Subject: req.Subject, Role: privacy.MemberRole(req.Role)}
	if req.Until != nil {
		m.Until = *req.Until
	}
	m, err := s.devices.AddMember(c.Request.Context(), c.Param("id"), m, actor(c))
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/devices/"+m.DeviceID+"/members/"+url.PathEscape(m.Subject))
	writeJSON(c, http.StatusCreated, newMemberResponse(m))
	return nil
}

// removeMember ends someone's share of a device.
//
// @Summary  Remove a member or guest, or leave
// @ID       removeDeviceMember
// @Description The owner (subject token) or an admin removes someone from the device; a member or guest leaves with their own subject token. Their consents on the device end in the same change, with withdrawal receipts (reason member_removed). Audited (household.member_removed).
// @Tags     devices
// @Security BearerAuth
// @Param    id      path string true "device id" format(uuid)
// @Param    member  path string true "the member's subject id"
// @Success  204
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not remove members"
// @Failure  404 {object} problem "no such device or member, or (subject token) neither the owner nor the member"
// @Router   /v1/devices/{id}/members/{member} [delete]
func (s *Server) removeMember(c *gin.Context) error {
	if err := s.devices.RemoveMember(c.Request.Context(), c.Param("id"), c.Param("member"), actor(c)); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// listMembers lists who shares a device.
//
// @Summary  Who shares a device
// @ID       listDeviceMembers
// @Description The device's members and guests. A subject token sees them on a device it owns or shares; auditors see pseudonyms. The read is recorded in the audit log.
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} memberList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read members"
// @Failure  404 {object} problem "no such device, or (subject token) not one they own or share"
// @Router   /v1/devices/{id}/members [get]
func (s *Server) listMembers(c *gin.Context) error {
	ms, err := s.devices.Members(c.Request.Context(), c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	out := memberList{Items: make([]memberResponse, len(ms))}
	subjects := make([]string, len(ms))
	show := showsSubject(c)
	for i, m := range ms {
		out.Items[i], subjects[i] = newMemberResponse(m), m.Subject
		if !show {
			if out.Items[i].Subject, err = s.audit.PseudonymOf(c.Request.Context(), m.Subject); err != nil {
				return err
			}
		}
	}
	s.noteReads(c, subjects...)
	writeJSON(c, http.StatusOK, out)
	return nil
}
