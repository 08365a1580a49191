package httpapi

import (
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// clientRequest creates an API client.
type clientRequest struct {
	// A label for people: which app or service holds the token.
	Name string `json:"name" binding:"required" maxLength:"100" example:"ios-app"`
	// What the client may do; see policies/routes_policy.csv.
	Role string `json:"role" binding:"required" enums:"admin,app,service,auditor" example:"app"`
}

// clientResponse is a created client with its token, which is never shown
// again.
type clientResponse struct {
	ID        string    `json:"id" format:"uuid" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	Name      string    `json:"name" example:"ios-app"`
	Role      string    `json:"role" enums:"admin,app,service,auditor" example:"app"`
	CreatedAt time.Time `json:"created_at" format:"date-time"`
	// The bearer token: 256 random bits. Shown once; only its hash is stored.
	Token string `json:"token" example:"cst_q3Kx…"`
}

// createClient makes an API client and shows its token once.
//
// @Summary  Create an API client
// @ID       createClient
// @Description The response carries the client's bearer token. It is shown once and stored only as a hash: keep it.
// @Tags     clients
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body clientRequest true "the client"
// @Success  201 {object} clientResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not create clients"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid name or role"
// @Router   /v1/clients [post]
func (s *Server) createClient(c *gin.Context) error {
	var req clientRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	cl, token, err := s.clients.Create(c.Request.Context(), req.Name, privacy.Role(req.Role))
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusCreated, clientResponse{ID: cl.ID, Name: cl.Name, Role: string(cl.Role), CreatedAt: cl.CreatedAt, Token: token})
	return nil
}
