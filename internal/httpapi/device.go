package httpapi

import (
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// deviceRequest registers a device.
type deviceRequest struct {
	Manufacturer string `json:"manufacturer" binding:"required" maxLength:"100" example:"Acme Corp"`
	Model        string `json:"model" binding:"required" maxLength:"100" example:"Thermo 3"`
	// Normalized on the way in: upper-cased, white space and hyphens removed.
	Serial          string `json:"serial" binding:"required" maxLength:"100" example:"SN-0042-AB"`
	FirmwareVersion string `json:"firmware_version" binding:"required" maxLength:"64" example:"1.4.2"`
	// Key of the privacy notice that governs this device.
	NoticeKey string `json:"notice_key" binding:"required" example:"thermo-notice"`
	// Optional opaque id of the data subject who owns the device.
	OwnerSubject string `json:"owner_subject,omitempty" maxLength:"200" example:"user-7f3a"`
	// What the owner calls the device.
	Label string `json:"label,omitempty" maxLength:"100" example:"hallway thermostat"`
	// The disposed device this unit was refurbished from: required to register a disposed device's identity again.
	RefurbishedFrom string `json:"refurbished_from,omitempty" format:"uuid" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
}

// deviceResponse is a device.
type deviceResponse struct {
	ID           string `json:"id" format:"uuid" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	Manufacturer string `json:"manufacturer" example:"Acme Corp"`
	Model        string `json:"model" example:"Thermo 3"`
	// The normalized serial.
	Serial          string    `json:"serial" example:"SN0042AB"`
	FirmwareVersion string    `json:"firmware_version" example:"1.4.2"`
	NoticeKey       string    `json:"notice_key" example:"thermo-notice"`
	OwnerSubject    string    `json:"owner_subject,omitempty" example:"user-7f3a"`
	Label           string    `json:"label,omitempty" example:"hallway thermostat"`
	RefurbishedFrom string    `json:"refurbished_from,omitempty" format:"uuid"`
	Status          string    `json:"status" enums:"active,deactivated,disposed" example:"active"`
	CreatedAt       time.Time `json:"created_at" format:"date-time"`
	UpdatedAt       time.Time `json:"updated_at" format:"date-time"`
}

func newDeviceResponse(d privacy.Device) deviceResponse {
	return deviceResponse{ID: d.ID, Manufacturer: d.Manufacturer, Model: d.Model, Serial: d.Serial, FirmwareVersion: d.Firmware,
		NoticeKey: d.NoticeKey, OwnerSubject: d.OwnerSubject, Label: d.Label, RefurbishedFrom: d.RefurbishedFrom, Status: string(d.Status),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// deviceList is one page of devices.
type deviceList struct {
	Items []deviceResponse `json:"items"`
	// Pass as ?cursor= to get the next page; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty" example:"MDE5M2E1ZjItN2MxZS03YjdhLTlkMWUtMmYzYzRiNWE2ZDdl"`
}

// createDevice registers a device.
//
// @Summary  Register a device
// @ID       createDevice
// @Description Manufacturer, model and serial form the device's unique identity (compared case-insensitively; the serial ignores white space and hyphens). A second registration of an identity in service is 409. A disposed device's identity stays disposed: a refurbished unit with the same identity is registered as a new device naming the disposed one in refurbished_from (409 without it).
// @Tags     devices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body deviceRequest true "the device"
// @Success  201 {object} deviceResponse
// @Header   201 {string} Location "/v1/devices/{id}"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not register devices"
// @Failure  409 {object} problem "a device with this identity is in service; or the identity was disposed of and refurbished_from is missing; or refurbished_from names a device not disposed"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields; refurbished_from names no device"
// @Router   /v1/devices [post]
func (s *Server) createDevice(c *gin.Context) error {
	var req deviceRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	d, err := s.devices.Register(c.Request.Context(), privacy.Device{Manufacturer: req.Manufacturer, Model: req.Model,
		Serial: req.Serial, Firmware: req.FirmwareVersion, NoticeKey: req.NoticeKey, OwnerSubject: req.OwnerSubject, Label: req.Label,
		RefurbishedFrom: req.RefurbishedFrom})
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/devices/"+d.ID)
	writeJSON(c, http.StatusCreated, newDeviceResponse(d))
	return nil
}

// getDevice returns one device.
//
// @Summary  Get a device
// @ID       getDevice
// @Description A device with an owner is the owner's personal data: the read is recorded in the audit log (personal_data.read).
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} deviceResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read devices"
// @Failure  404 {object} problem "no such device"
// @Router   /v1/devices/{id} [get]
func (s *Server) getDevice(c *gin.Context) error {
	d, err := s.devices.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	s.noteReads(c, d.OwnerSubject)
	writeJSON(c, http.StatusOK, newDeviceResponse(d))
	return nil
}

// listDevices searches devices for incident response (Control 35-1).
//
// @Summary  Search devices
// @ID       listDevices
// @Description Filters combine with AND; manufacturer and model match case-insensitively, firmware and subject exactly. Results are ordered by registration and paginated with an opaque cursor. Each read of a subject's personal data is recorded in the audit log (personal_data.read: client, route, the subject's pseudonym).
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    manufacturer query string false "manufacturer"
// @Param    model        query string false "model"
// @Param    firmware     query string false "firmware version"
// @Param    subject      query string false "owner subject id"
// @Param    cursor       query string false "next_cursor of the previous page"
// @Param    limit        query int    false "page size, 1-200 (default 50)" minimum(1) maximum(200)
// @Success  200 {object} deviceList
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not search devices"
// @Failure  422 {object} problem "bad limit or cursor"
// @Router   /v1/devices [get]
func (s *Server) listDevices(c *gin.Context) error {
	// Any other parameter is refused, so a typo (?manufacter=) never
	// silently widens a search.
	q, err := strictQuery(c, "manufacturer", "model", "firmware", "subject", "cursor", "limit")
	if err != nil {
		return err
	}
	f := privacy.DeviceFilter{Manufacturer: q.Get("manufacturer"), Model: q.Get("model"), Firmware: q.Get("firmware"), Subject: q.Get("subject")}
	if f.After, f.Limit, err = idPage(q, device.DefaultLimit, device.MaxLimit); err != nil {
		return err
	}
	devices, more, err := s.devices.List(c.Request.Context(), f)
	if err != nil {
		return err
	}
	out := deviceList{Items: make([]deviceResponse, len(devices))}
	owners := make([]string, len(devices))
	for i, d := range devices {
		out.Items[i], owners[i] = newDeviceResponse(d), d.OwnerSubject
	}
	s.noteReads(c, owners...)
	if more {
		out.NextCursor = nextCursor(devices[len(devices)-1].ID)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// deactivateDevice moves an active device to deactivated.
//
// @Summary  Deactivate a device
// @ID       deactivateDevice
// @Description From then on every access decision about the device is deny.
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} deviceResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change devices"
// @Failure  404 {object} problem "no such device"
// @Failure  409 {object} problem "device is not active (code invalid_transition)"
// @Router   /v1/devices/{id}/deactivate [post]
func (s *Server) deactivateDevice(c *gin.Context) error {
	d, err := s.devices.Deactivate(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newDeviceResponse(d))
	return nil
}

// sanitizationBody attests how a disposed device's data was sanitized.
type sanitizationBody struct {
	// NIST SP 800-88: clear (overwritten by the device's own means), purge (made unrecoverable in a lab), destroy (the medium destroyed).
	Method string `json:"method" binding:"required" enums:"clear,purge,destroy" example:"purge"`
	// How, by whom, with which tool or certificate.
	Note string `json:"note,omitempty" maxLength:"2000" example:"factory reset with cryptographic erase, certificate 2026-118"`
}

// disposeBody is a disposal, with the sanitization when it is known.
type disposeBody struct {
	Sanitization *sanitizationBody `json:"sanitization,omitempty"`
}

// sanitizationResponse is an attestation.
type sanitizationResponse struct {
	DeviceID   string    `json:"device_id" format:"uuid"`
	Method     string    `json:"method" enums:"clear,purge,destroy"`
	Note       string    `json:"note,omitempty"`
	AttestedBy string    `json:"attested_by" format:"uuid"`
	AttestedAt time.Time `json:"attested_at" format:"date-time"`
	AuditSeq   int64     `json:"audit_seq"`
}

func newSanitizationResponse(a privacy.Sanitization) sanitizationResponse {
	return sanitizationResponse{DeviceID: a.DeviceID, Method: string(a.Method), Note: a.Note, AttestedBy: a.AttestedBy, AttestedAt: a.AttestedAt,
		AuditSeq: a.AuditSeq}
}

// disposeDevice moves a deactivated device to disposed, for good.
//
// @Summary  Dispose of a device
// @ID       disposeDevice
// @Description Final: a disposed device never becomes active again and its inventory can no longer change. The device must be deactivated first. Every consent in force on it ends in the same change: one withdrawal per subject and notice version, made by the service, with its receipt (reason device_disposed), which backends hear of as consent.withdrawn with that reason. Give the sanitization (NIST SP 800-88 method) when it is done, or attest it later (POST /v1/devices/{id}/sanitization); a disposed device without one is a finding after a week.
// @Tags     devices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string      true  "device id" format(uuid)
// @Param    body body disposeBody false "the sanitization, if done"
// @Success  200 {object} deviceResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change devices"
// @Failure  404 {object} problem "no such device"
// @Failure  409 {object} problem "device is not deactivated (code invalid_transition)"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "unknown sanitization method, or note too long"
// @Router   /v1/devices/{id}/dispose [post]
func (s *Server) disposeDevice(c *gin.Context) error {
	var req disposeBody
	if err := s.decodeOptional(c, &req); err != nil {
		return err
	}
	var sanitization *privacy.Sanitization
	if req.Sanitization != nil {
		sanitization = &privacy.Sanitization{Method: privacy.SanitizationMethod(req.Sanitization.Method), Note: req.Sanitization.Note}
	}
	p, _ := principal(c.Request.Context())
	d, err := s.devices.Dispose(c.Request.Context(), c.Param("id"), sanitization, p.ID)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newDeviceResponse(d))
	return nil
}

// activateDevice moves a deactivated device back to active.
//
// @Summary  Reactivate a device
// @ID       activateDevice
// @Description A repaired device returns to service. Its consents are as they were: those withdrawn stay withdrawn. A disposed device never does.
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} deviceResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change devices"
// @Failure  404 {object} problem "no such device"
// @Failure  409 {object} problem "device is not deactivated (code invalid_transition)"
// @Router   /v1/devices/{id}/activate [post]
func (s *Server) activateDevice(c *gin.Context) error {
	d, err := s.devices.Activate(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newDeviceResponse(d))
	return nil
}

// attestSanitization records how a disposed device's data was sanitized.
//
// @Summary  Attest a disposed device's sanitization
// @ID       attestSanitization
// @Description Who (the calling client), when, and how (NIST SP 800-88: clear, purge or destroy) a disposed device's data was sanitized. Append-only, audited (sanitization.attested); a device may have several.
// @Tags     devices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string           true "device id" format(uuid)
// @Param    body body sanitizationBody true "method and note"
// @Success  201 {object} sanitizationResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not attest"
// @Failure  404 {object} problem "no such device"
// @Failure  409 {object} problem "device is not disposed (code invalid_transition)"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "unknown method, or note too long"
// @Router   /v1/devices/{id}/sanitization [post]
func (s *Server) attestSanitization(c *gin.Context) error {
	var req sanitizationBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, _ := principal(c.Request.Context())
	a, err := s.devices.AttestSanitization(c.Request.Context(), c.Param("id"), privacy.SanitizationMethod(req.Method), req.Note, p.ID)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusCreated, newSanitizationResponse(a))
	return nil
}

// listSanitizations lists a device's attestations.
//
// @Summary  A device's sanitization attestations
// @ID       listSanitizations
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} sanitizationList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read attestations"
// @Failure  404 {object} problem "no such device"
// @Router   /v1/devices/{id}/sanitization [get]
func (s *Server) listSanitizations(c *gin.Context) error {
	if _, err := s.devices.Get(c.Request.Context(), c.Param("id")); err != nil {
		return err
	}
	as, err := s.devices.Sanitizations(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	out := sanitizationList{Items: make([]sanitizationResponse, len(as))}
	for i, a := range as {
		out.Items[i] = newSanitizationResponse(a)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// sanitizationList is a device's attestations, oldest first.
type sanitizationList struct {
	Items []sanitizationResponse `json:"items"`
}

// deviceChangeBody changes a device's firmware or label; a field left out
// stays as it is.
type deviceChangeBody struct {
	// The firmware the device now runs (admins only).
	FirmwareVersion *string `json:"firmware_version,omitempty" maxLength:"64" example:"1.5.0"`
	// What the owner calls the device; "" removes it.
	Label *string `json:"label,omitempty" maxLength:"100" example:"hallway thermostat"`
}

// updateDevice changes a device's firmware or label.
//
// @Summary  Update a device's firmware or label
// @ID       updateDevice
// @Description An admin reports a firmware update or sets the label; the owner, with their subject token, sets the label only. Each change is audited (device.updated, naming what changed) and kept in the history (GET /v1/devices/{id}/history), which incident search reads for the firmware a device ran at a time. A change that changes nothing is answered with the device as it is, and not audited. A disposed device no longer changes.
// @Tags     devices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string           true "device id" format(uuid)
// @Param    body body deviceChangeBody true "what changes"
// @Success  200 {object} deviceResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change devices; or a subject token gives a firmware version"
// @Failure  404 {object} problem "no such device, or (subject token) not one of theirs"
// @Failure  409 {object} problem "the device is disposed (invalid_transition)"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "nothing to change, or a field invalid"
// @Router   /v1/devices/{id} [patch]
func (s *Server) updateDevice(c *gin.Context) error {
	var req deviceChangeBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	d, err := s.devices.Update(c.Request.Context(), c.Param("id"), privacy.DeviceChange{Firmware: req.FirmwareVersion, Label: req.Label}, actor(c))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newDeviceResponse(d))
	return nil
}

// actor is who acts on a device: the client, and the subject of a
// subject token.
func actor(c *gin.Context) device.Actor {
	p, _ := principal(c.Request.Context())
	by := device.Actor{ClientID: p.ID}
	if p.Role == privacy.RoleSubject {
		by.Subject = p.Subject
	}
	return by
}

// attributesResponse is a device's firmware and label from an entry on.
type attributesResponse struct {
	FirmwareVersion string    `json:"firmware_version" example:"1.4.2"`
	Label           string    `json:"label,omitempty" example:"hallway thermostat"`
	Since           time.Time `json:"since" format:"date-time"`
	// The audit entry that set them (-1: as registered, before history was kept).
	AuditSeq int64 `json:"audit_seq"`
}

// attributesList is a device's history, oldest first.
type attributesList struct {
	Items []attributesResponse `json:"items"`
}

// deviceHistory lists a device's firmware and labels.
//
// @Summary  A device's firmware and label history
// @ID       deviceHistory
// @Description Every firmware and label the device had, oldest first, from the audit entry that set them.
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} attributesList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read device history"
// @Failure  404 {object} problem "no such device"
// @Router   /v1/devices/{id}/history [get]
func (s *Server) deviceHistory(c *gin.Context) error {
	as, err := s.devices.Attributes(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	out := attributesList{Items: make([]attributesResponse, len(as))}
	for i, a := range as {
		out.Items[i] = attributesResponse{FirmwareVersion: a.Firmware, Label: a.Label, Since: a.Since, AuditSeq: a.AuditSeq}
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}
