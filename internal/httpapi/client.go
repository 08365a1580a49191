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
	// When the client's tokens stop working (RFC 3339, in the future); absent: only revocation ends them.
	ExpiresAt *time.Time `json:"expires_at,omitempty" format:"date-time" example:"2027-06-30T00:00:00Z"`
	// App clients only: where the hosted consent flow (GET /consent/{notice_key}) may send
	// people back to the app, with the record id (at most 10). https, http on a loopback
	// address, or a private-use scheme (RFC 8252), e.g. com.acme.tracker:/consent.
	RedirectURIs []string `json:"redirect_uris,omitempty" validate:"optional,max=10" example:"com.acme.tracker:/consent"`
}

// clientInfo is an API client as listed: never its token.
type clientInfo struct {
	ID        string    `json:"id" format:"uuid" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	Name      string    `json:"name" example:"ios-app"`
	Role      string    `json:"role" enums:"admin,app,service,auditor" example:"app"`
	CreatedAt time.Time `json:"created_at" format:"date-time"`
	// active, or expired (past expires_at), or revoked.
	Status string `json:"status" enums:"active,expired,revoked" example:"active"`
	// When the client's tokens stop working; absent: no expiry.
	ExpiresAt *time.Time `json:"expires_at,omitempty" format:"date-time"`
	// When the client was revoked; absent: it was not.
	RevokedAt *time.Time `json:"revoked_at,omitempty" format:"date-time"`
	// When its token was last rotated; absent: never.
	RotatedAt *time.Time `json:"rotated_at,omitempty" format:"date-time"`
	// When the token the last rotation replaced stops (or stopped) working.
	PreviousTokenExpiresAt *time.Time `json:"previous_token_expires_at,omitempty" format:"date-time"`
	// Where the hosted consent flow may send people back to this app.
	RedirectURIs []string `json:"redirect_uris,omitempty" example:"com.acme.tracker:/consent"`
}

func newClientInfo(c privacy.Client, now time.Time) clientInfo {
	return clientInfo{ID: c.ID, Name: c.Name, Role: string(c.Role), CreatedAt: c.CreatedAt, Status: string(c.Status(now)),
		ExpiresAt: optionalTime(c.ExpiresAt), RevokedAt: optionalTime(c.RevokedAt), RotatedAt: optionalTime(c.RotatedAt),
		PreviousTokenExpiresAt: optionalTime(c.PreviousExpiresAt), RedirectURIs: c.RedirectURIs}
}

// clientResponse is a client with its new token, which is never shown
// again.
type clientResponse struct {
	clientInfo
	// The bearer token: 256 random bits. Shown once; only its hash is stored.
	Token string `json:"token" example:"cst_q3Kx…"`
}

// clientList is one page of clients.
type clientList struct {
	Items []clientInfo `json:"items"`
	// Pass as ?cursor= to get the next page; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty" example:"MDE5M2E1ZjItN2MxZS03YjdhLTlkMWUtMmYzYzRiNWE2ZDdl"`
}

// rotateRequest asks for a new token.
type rotateRequest struct {
	// How long the replaced token keeps working, in seconds (0-2592000, 30 days); 0, the default, ends it at once.
	GraceSeconds int64 `json:"grace_seconds,omitempty" minimum:"0" maximum:"2592000" example:"3600"`
}

// createClient makes an API client and shows its token once.
//
// @Summary  Create an API client
// @ID       createClient
// @Description The response carries the client's bearer token. It is shown once and stored only as a hash: keep it. Audited (client.created).
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
// @Failure  422 {object} problem "invalid name or role, expires_at not in the future, or a redirect URI that is not allowed (or not an app's)"
// @Router   /v1/clients [post]
func (s *Server) createClient(c *gin.Context) error {
	var req clientRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	var expires time.Time
	if req.ExpiresAt != nil {
		expires = *req.ExpiresAt
	}
	cl, token, err := s.clients.Create(c.Request.Context(), req.Name, privacy.Role(req.Role), expires, req.RedirectURIs...)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusCreated, clientResponse{clientInfo: newClientInfo(cl, time.Now()), Token: token})
	return nil
}

// listClients lists the API clients.
//
// @Summary  List API clients
// @ID       listClients
// @Description Every client with its role and status (active, expired, revoked), oldest first, paginated with an opaque cursor. Tokens are never shown.
// @Tags     clients
// @Security BearerAuth
// @Produce  json
// @Param    cursor query string false "next_cursor of the previous page"
// @Param    limit  query int    false "page size, 1-200 (default 50)" minimum(1) maximum(200)
// @Success  200 {object} clientList
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not list clients"
// @Failure  422 {object} problem "bad limit or cursor"
// @Router   /v1/clients [get]
func (s *Server) listClients(c *gin.Context) error {
	q, err := strictQuery(c, "cursor", "limit")
	if err != nil {
		return err
	}
	after, limit, err := idPage(q, 50, 200)
	if err != nil {
		return err
	}
	clients, more, err := s.clients.List(c.Request.Context(), after, limit)
	if err != nil {
		return err
	}
	now := time.Now()
	out := clientList{Items: make([]clientInfo, len(clients))}
	for i, cl := range clients {
		out.Items[i] = newClientInfo(cl, now)
	}
	if more {
		out.NextCursor = nextCursor(clients[len(clients)-1].ID)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// revokeClient ends an API client for good.
//
// @Summary  Revoke an API client
// @ID       revokeClient
// @Description Its tokens are refused (401) at once on this instance and within half a second on every instance sharing the database. Revocation is final. The bootstrap admin client can be revoked like any other (keep another admin, or create one with consentry clients create). Audited (client.revoked).
// @Tags     clients
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "client id" format(uuid)
// @Success  200 {object} clientInfo
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not revoke clients"
// @Failure  404 {object} problem "no such client"
// @Failure  409 {object} problem "the client is already revoked"
// @Router   /v1/clients/{id}/revoke [post]
func (s *Server) revokeClient(c *gin.Context) error {
	cl, err := s.clients.Revoke(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newClientInfo(cl, time.Now()))
	return nil
}

// rotateClient gives an API client a new token.
//
// @Summary  Rotate an API client's token
// @ID       rotateClient
// @Description Issues a new token, shown once. The token it replaces keeps working for grace_seconds (0 by default: it stops at once; at most 30 days, never past the client's expiry). A body is optional. Audited (client.rotated).
// @Tags     clients
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string        true  "client id" format(uuid)
// @Param    body body rotateRequest false "grace period"
// @Success  200 {object} clientResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not rotate clients"
// @Failure  404 {object} problem "no such client"
// @Failure  409 {object} problem "the client is revoked"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "grace_seconds out of range"
// @Router   /v1/clients/{id}/rotate [post]
func (s *Server) rotateClient(c *gin.Context) error {
	var req rotateRequest
	if err := s.decodeOptional(c, &req); err != nil {
		return err
	}
	if req.GraceSeconds < 0 || req.GraceSeconds > int64(privacy.MaxRotationGrace/time.Second) {
		return privacy.FieldErrorf(privacy.EInvalid, "grace_seconds", "must be between 0 and %d (30 days)", int64(privacy.MaxRotationGrace/time.Second))
	}
	cl, token, err := s.clients.Rotate(c.Request.Context(), c.Param("id"), time.Duration(req.GraceSeconds)*time.Second)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusOK, clientResponse{clientInfo: newClientInfo(cl, time.Now()), Token: token})
	return nil
}
