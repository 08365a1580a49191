package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// transferBody names a device's new owner.
type transferBody struct {
	// The new owner's subject id.
	To string `json:"to" binding:"required" maxLength:"200" example:"user-9b21"`
}

// transferOfferResponse is an offer waiting for the new owner.
type transferOfferResponse struct {
	DeviceID  string    `json:"device_id" format:"uuid"`
	To        string    `json:"to" example:"user-9b21"`
	CreatedAt time.Time `json:"created_at" format:"date-time"`
}

// ownerResponse is one owner in a device's history.
type ownerResponse struct {
	// The owner's subject id (for auditors, their pseudonym); "" for none; erased:<pseudonym> for an erased owner.
	Owner string    `json:"owner" example:"user-7f3a"`
	Since time.Time `json:"since" format:"date-time"`
	// The audit entry that made them owner (-1: the owner at registration, before history was kept).
	AuditSeq int64 `json:"audit_seq"`
}

// ownerList is a device's owners, oldest first.
type ownerList struct {
	Items []ownerResponse `json:"items"`
}

// transferDevice gives a device to a new owner.
//
// @Summary  Transfer a device
// @ID       transferDevice
// @Description Ownership moves to the subject named in `to` (a device sold or given on). An admin's transfer is made at once (200, the device); the current owner's, with their subject token, is an offer (202) the new owner accepts with theirs (POST /v1/devices/{id}/transfer/accept). A transfer ends, in one change, every consent on the device, the previous owner's and anyone's: withdrawals made by the service, with receipts (reason ownership_transferred), announced to backends as consent.withdrawn, then device.transferred. The new owner starts with nothing granted; no decision after the transfer's audit entry allows on the old consents. The history of owners is kept (GET /v1/devices/{id}/owners).
// @Tags     devices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string       true "device id" format(uuid)
// @Param    body body transferBody true "the new owner"
// @Success  200 {object} deviceResponse "transferred (admin)"
// @Success  202 {object} transferOfferResponse "offered (the owner's subject token); the new owner accepts"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not transfer devices"
// @Failure  404 {object} problem "no such device, or (subject token) not one of theirs"
// @Failure  409 {object} problem "the device is disposed (invalid_transition), or already the new owner's (conflict)"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "to missing or not a subject id"
// @Router   /v1/devices/{id}/transfer [post]
func (s *Server) transferDevice(c *gin.Context) error {
	var req transferBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	d, offer, err := s.devices.Transfer(c.Request.Context(), c.Param("id"), req.To, actor(c))
	if err != nil {
		return err
	}
	if offer != nil {
		writeJSON(c, http.StatusAccepted, transferOfferResponse{DeviceID: offer.DeviceID, To: offer.To, CreatedAt: offer.CreatedAt})
		return nil
	}
	writeJSON(c, http.StatusOK, newDeviceResponse(*d))
	return nil
}

// acceptTransfer completes a transfer offered to the caller.
//
// @Summary  Accept a device offered to you
// @ID       acceptTransfer
// @Description The subject the owner offered the device to accepts with their own subject token: the transfer is made (see POST /v1/devices/{id}/transfer).
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} deviceResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only a subject token accepts"
// @Failure  404 {object} problem "no such device, or no transfer of it offered to this subject"
// @Failure  409 {object} problem "the device was disposed of since (invalid_transition)"
// @Router   /v1/devices/{id}/transfer/accept [post]
func (s *Server) acceptTransfer(c *gin.Context) error {
	p, _ := principal(c.Request.Context())
	d, err := s.devices.Accept(c.Request.Context(), c.Param("id"), p.Subject, p.ID)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newDeviceResponse(d))
	return nil
}

// listOwners lists a device's owners.
//
// @Summary  A device's owners
// @ID       listDeviceOwners
// @Description Every owner the device had, oldest first, from the audit entry that made them owner. Auditors see pseudonyms. The read is recorded in the audit log.
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} ownerList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read owners"
// @Failure  404 {object} problem "no such device"
// @Router   /v1/devices/{id}/owners [get]
func (s *Server) listOwners(c *gin.Context) error {
	owners, err := s.devices.Owners(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	show := showsSubject(c)
	out := ownerList{Items: make([]ownerResponse, len(owners))}
	subjects := make([]string, 0, len(owners))
	for i, o := range owners {
		owner := o.Subject
		if !show && owner != "" {
			if owner, err = s.audit.PseudonymOf(c.Request.Context(), owner); err != nil {
				return err
			}
		}
		if o.Subject != "" {
			subjects = append(subjects, o.Subject)
		}
		out.Items[i] = ownerResponse{Owner: owner, Since: o.Since, AuditSeq: o.AuditSeq}
	}
	s.noteReads(c, subjects...)
	writeJSON(c, http.StatusOK, out)
	return nil
}
