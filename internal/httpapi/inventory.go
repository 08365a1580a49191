package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// elementBody is one data element, the same on the way in and out.
type elementBody struct {
	// Unique within the inventory.
	Key         string `json:"key" binding:"required" example:"location"`
	Description string `json:"description" binding:"required" maxLength:"2000" example:"GPS position of the tracker"`
	// A key of GET /v1/categories.
	Category    string `json:"category" binding:"required" example:"personal.location.precise"`
	Sensitivity string `json:"sensitivity" binding:"required" enums:"none,personal,sensitive" example:"personal"`
	// Keys of catalogue purposes (GET /v1/purposes); at least one.
	Purposes         []string `json:"purposes" binding:"required,max=50" example:"navigation"`
	CollectionMethod string   `json:"collection_method" binding:"required" enums:"sensor,user_input,derived,network,third_party" example:"sensor"`
	// ISO 8601 duration, positive.
	Retention string `json:"retention" binding:"required" example:"P30D"`
	// Who receives the data besides the operator; may be empty.
	Recipients    []string `json:"recipients" validate:"optional,max=50" example:"acme-cloud"`
	StorageRegion string   `json:"storage_region" binding:"required" example:"EU"`
}

func (e elementBody) toDomain() privacy.DataElement {
	return privacy.DataElement{Key: e.Key, Description: e.Description, Category: e.Category, Sensitivity: privacy.Sensitivity(e.Sensitivity),
		Purposes: e.Purposes, CollectionMethod: privacy.CollectionMethod(e.CollectionMethod), Retention: e.Retention,
		Recipients: e.Recipients, StorageRegion: e.StorageRegion}
}

func newElementBody(e privacy.DataElement) elementBody {
	recipients := e.Recipients
	if recipients == nil {
		recipients = []string{}
	}
	return elementBody{Key: e.Key, Description: e.Description, Category: e.Category, Sensitivity: string(e.Sensitivity),
		Purposes: e.Purposes, CollectionMethod: string(e.CollectionMethod), Retention: e.Retention,
		Recipients: recipients, StorageRegion: e.StorageRegion}
}

// inventoryRequest declares what a device collects.
type inventoryRequest struct {
	// Every data element the device collects; [] declares that it collects nothing. At most 200.
	Elements []elementBody `json:"elements" binding:"required,max=200,dive"`
}

// inventoryResponse is one inventory version.
type inventoryResponse struct {
	DeviceID string `json:"device_id" format:"uuid"`
	// The notice that governs the device: the one to show before consent (GET /v1/notices/{key}/versions/current).
	NoticeKey string `json:"notice_key" example:"acme-cam"`
	// 1 for the first declaration, +1 for each later one.
	Version   int       `json:"version" example:"1"`
	CreatedAt time.Time `json:"created_at" format:"date-time"`
	// Id of the API client that declared it.
	CreatedBy string        `json:"created_by" format:"uuid"`
	Elements  []elementBody `json:"elements"`
}

func newInventoryResponse(inv privacy.Inventory, noticeKey string) inventoryResponse {
	out := inventoryResponse{DeviceID: inv.DeviceID, NoticeKey: noticeKey, Version: inv.Version, CreatedAt: inv.CreatedAt, CreatedBy: inv.CreatedBy,
		Elements: make([]elementBody, len(inv.Elements))}
	for i, e := range inv.Elements {
		out.Elements[i] = newElementBody(e)
	}
	return out
}

// putInventoryResponse is the new inventory version and what of it the
// device's notice does not state.
type putInventoryResponse struct {
	inventoryResponse
	// Elements and purposes the device's current notice version does not
	// state (all of them when it has none published). They are accepted,
	// but decisions deny them until a covering version is published.
	Uncovered []gap `json:"uncovered"`
}

// putInventory declares a new inventory version.
//
// @Summary  Declare a device's data inventory
// @ID       putInventory
// @Description Every call makes a new version; earlier versions stay readable with ?version=. All problems are reported at once, each with its field (e.g. elements[1].retention). What the device's notice does not state is accepted but listed in `uncovered`.
// @Tags     inventories
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string true "device id" format(uuid)
// @Param    body body inventoryRequest true "the inventory"
// @Success  201 {object} putInventoryResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not declare inventories"
// @Failure  404 {object} problem "no such device"
// @Failure  409 {object} problem "device is disposed (code invalid_transition), or a concurrent declaration took the version (code conflict)"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid elements, listed field by field"
// @Router   /v1/devices/{id}/inventory [put]
func (s *Server) putInventory(c *gin.Context) error {
	var req inventoryRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, _ := principal(c.Request.Context())
	elements := make([]privacy.DataElement, len(req.Elements))
	for i, e := range req.Elements {
		elements[i] = e.toDomain()
	}
	inv, uncovered, err := s.devices.PutInventory(c.Request.Context(), c.Param("id"), p.ID, elements)
	if err != nil {
		return err
	}
	key, err := s.devices.NoticeKey(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusCreated, putInventoryResponse{inventoryResponse: newInventoryResponse(inv, key), Uncovered: newGaps(uncovered)})
	return nil
}

// getInventory returns the current inventory version, or ?version=N.
//
// @Summary  Get a device's data inventory
// @ID       getInventory
// @Tags     inventories
// @Security BearerAuth
// @Produce  json
// @Param    id      path  string true  "device id" format(uuid)
// @Param    version query int    false "inventory version; the current one when absent" minimum(1)
// @Success  200 {object} inventoryResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read inventories"
// @Failure  404 {object} problem "no such device, no inventory yet, or no such version"
// @Failure  422 {object} problem "version is not a positive whole number"
// @Router   /v1/devices/{id}/inventory [get]
func (s *Server) getInventory(c *gin.Context) error {
	version := 0
	if v, ok := c.GetQuery("version"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return privacy.FieldErrorf(privacy.EInvalid, "version", "must be a positive whole number")
		}
		version = n
	}
	inv, err := s.devices.Inventory(c.Request.Context(), c.Param("id"), version)
	if err != nil {
		return err
	}
	key, err := s.devices.NoticeKey(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newInventoryResponse(inv, key))
	return nil
}
