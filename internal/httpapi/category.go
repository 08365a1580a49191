package httpapi

import (
	"net/http"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// categoryResponse is one data category of the shipped taxonomy.
type categoryResponse struct {
	Key         string `json:"key" example:"personal.location.precise"`
	Description string `json:"description" example:"precise geolocation (GNSS, Wi-Fi positioning), finer than about 1 km"`
	// The least sensitivity an element of this category may be declared with.
	MinSensitivity string `json:"min_sensitivity" enums:"none,personal,sensitive" example:"personal"`
	// The matching W3C Data Privacy Vocabulary concept (prefixes dpv: https://w3id.org/dpv#, pd: https://w3id.org/dpv/pd#).
	DPV string `json:"dpv" example:"pd:Location"`
}

// categoryList is the whole taxonomy.
type categoryList struct {
	Items []categoryResponse `json:"items"`
}

// listCategories returns the data category taxonomy.
//
// @Summary  List data categories
// @ID       listCategories
// @Description The dotted taxonomy that inventory elements must use, aligned with W3C DPV.
// @Tags     inventories
// @Security BearerAuth
// @Produce  json
// @Success  200 {object} categoryList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read categories"
// @Router   /v1/categories [get]
func (s *Server) listCategories(c *gin.Context) error {
	cats := privacy.Categories()
	out := categoryList{Items: make([]categoryResponse, len(cats))}
	for i, k := range cats {
		out.Items[i] = categoryResponse{Key: k.Key, Description: k.Description, MinSensitivity: string(k.Floor), DPV: k.DPV}
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}
