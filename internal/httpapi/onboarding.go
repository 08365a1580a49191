package httpapi

import (
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// onboardingNotice is the notice in force, as the app shows it.
type onboardingNotice struct {
	Version     int    `json:"version" example:"3"`
	ContentHash string `json:"content_hash" example:"5f2a…"`
	// The locale served: the one asked for, a parent of it, or the notice's default.
	Locale string `json:"locale" example:"fr"`
	// Whether the locale served differs from the one asked for.
	Fallback bool   `json:"fallback"`
	Title    string `json:"title" example:"Votre caméra"`
}

// onboardingInventory is what the device collects, for the app to explain.
type onboardingInventory struct {
	Version  int           `json:"version" example:"1"`
	Elements []elementBody `json:"elements"`
}

// onboardingResponse is what an app needs to set a device up: no owner,
// nothing about any person.
type onboardingResponse struct {
	ID              string `json:"id" format:"uuid"`
	Manufacturer    string `json:"manufacturer" example:"Acme"`
	Model           string `json:"model" example:"Cam"`
	Serial          string `json:"serial" example:"SN0042"`
	FirmwareVersion string `json:"firmware_version" example:"2.4.1"`
	Status          string `json:"status" enums:"active,deactivated,disposed"`
	NoticeKey       string `json:"notice_key" example:"acme-cam"`
	// The notice in force; absent while none is published.
	Notice *onboardingNotice `json:"notice,omitempty"`
	// The current data inventory; absent while none is declared.
	Inventory *onboardingInventory `json:"inventory,omitempty"`
	CreatedAt time.Time            `json:"created_at" format:"date-time"`
}

// resolveDevice answers an app onboarding a device.
//
// @Summary  Resolve a device for onboarding
// @ID       resolveDevice
// @Description What an app needs to set a device up, from its id or from its identity as printed on it or in its QR code (manufacturer, model and serial, normalized as at registration: case, dashes and spaces in the serial do not matter): id, status, notice key, the notice in force in the reader's locale (with fallback) and the current data inventory. It says nothing about any person: no owner. A subject token resolves only a device its subject owns or shares as a member or guest (any other: 404).
// @Tags     devices
// @Security BearerAuth
// @Produce  json
// @Param    id           query string false "device id (or give the identity)" format(uuid)
// @Param    manufacturer query string false "as printed"
// @Param    model        query string false "as printed"
// @Param    serial       query string false "as printed"
// @Param    locale       query string false "BCP 47 language tag for the notice, e.g. fr-CA"
// @Success  200 {object} onboardingResponse
// @Failure  400 {object} problem "unknown query parameter, or locale not a BCP 47 tag"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not resolve devices"
// @Failure  404 {object} problem "no such device (or, for a subject token, not one they own or share)"
// @Failure  422 {object} problem "neither an id nor a whole identity, or both"
// @Router   /v1/devices/resolve [get]
func (s *Server) resolveDevice(c *gin.Context) error {
	q, err := strictQuery(c, "id", "manufacturer", "model", "serial", "locale")
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	d, err := s.devices.Resolve(ctx, q.Get("id"), q.Get("manufacturer"), q.Get("model"), q.Get("serial"))
	if err != nil {
		return err
	}
	if p, _ := principal(ctx); p.Role == privacy.RoleSubject {
		ok, err := s.devices.Visible(ctx, d, p.Subject)
		if err != nil {
			return err
		}
		if !ok {
			return privacy.Errorf(privacy.ENotFound, "device not found")
		}
	}
	out := onboardingResponse{ID: d.ID, Manufacturer: d.Manufacturer, Model: d.Model, Serial: d.Serial, FirmwareVersion: d.Firmware,
		Status: string(d.Status), NoticeKey: d.NoticeKey, CreatedAt: d.CreatedAt}
	shown, err := s.notices.Current(ctx, d.NoticeKey, q.Get("locale"))
	switch {
	case err == nil:
		out.Notice = &onboardingNotice{Version: shown.Version.Version, ContentHash: shown.Version.ContentHash, Locale: shown.Locale,
			Fallback: shown.Fallback, Title: shown.Text.Title}
	case privacy.ErrorCode(err) != privacy.ENotFound:
		return err
	}
	inv, err := s.devices.Inventory(ctx, d.ID, 0)
	switch {
	case err == nil:
		out.Inventory = &onboardingInventory{Version: inv.Version, Elements: make([]elementBody, len(inv.Elements))}
		for i, e := range inv.Elements {
			out.Inventory.Elements[i] = newElementBody(e)
		}
	case privacy.ErrorCode(err) != privacy.ENotFound:
		return err
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}
