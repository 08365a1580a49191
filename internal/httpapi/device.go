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
	Status          string    `json:"status" enums:"active,deactivated,disposed" example:"active"`
	CreatedAt       time.Time `json:"created_at" format:"date-time"`
	UpdatedAt       time.Time `json:"updated_at" format:"date-time"`
}

func newDeviceResponse(d privacy.Device) deviceResponse {
	return deviceResponse{ID: d.ID, Manufacturer: d.Manufacturer, Model: d.Model, Serial: d.Serial, FirmwareVersion: d.Firmware,
		NoticeKey: d.NoticeKey, OwnerSubject: d.OwnerSubject, Status: string(d.Status), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
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
// @Description Manufacturer, model and serial form the device's unique identity (compared case-insensitively; the serial ignores white space and hyphens). A second registration of the same identity is 409.
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
// @Failure  409 {object} problem "a device with this identity exists"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields"
// @Router   /v1/devices [post]
func (s *Server) createDevice(c *gin.Context) error {
	var req deviceRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	d, err := s.devices.Register(c.Request.Context(), privacy.Device{Manufacturer: req.Manufacturer, Model: req.Model,
		Serial: req.Serial, Firmware: req.FirmwareVersion, NoticeKey: req.NoticeKey, OwnerSubject: req.OwnerSubject})
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

// disposeDevice moves a deactivated device to disposed, for good.
//
// @Summary  Dispose of a device
// @ID       disposeDevice
// @Description Final: a disposed device never becomes active again and its inventory can no longer change. The device must be deactivated first.
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "device id" format(uuid)
// @Success  200 {object} deviceResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change devices"
// @Failure  404 {object} problem "no such device"
// @Failure  409 {object} problem "device is not deactivated (code invalid_transition)"
// @Router   /v1/devices/{id}/dispose [post]
func (s *Server) disposeDevice(c *gin.Context) error {
	d, err := s.devices.Dispose(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newDeviceResponse(d))
	return nil
}
