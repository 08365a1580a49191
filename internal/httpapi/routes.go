package httpapi

import (
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// newEngine lays out the whole API on one screen. Every /v1 route passes
// authenticate and authorize; the policy in policies/ must name it for any
// role to reach it.
func (s *Server) newEngine() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// A path is served as written or not at all: no redirects to a
	// "corrected" path, which clients would follow with their token.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// Only the socket peer is trusted; X-Forwarded-For is not a client IP.
	_ = r.SetTrustedProxies(nil)
	r.Use(s.recoverer(), securityHeaders(), withRequestID(), s.trace(), s.observe(), s.renderGuard())
	r.NoRoute(s.handle(func(*gin.Context) error {
		return privacy.Errorf(privacy.ERouteNotFound, "no such route")
	}))
	r.NoMethod(s.handle(func(*gin.Context) error {
		return privacy.Errorf(privacy.EMethodNotAllowed, "the route does not support this method")
	}))

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.handle(s.readyz))
	r.GET("/metrics", s.metricsHandler())
	r.GET("/openapi.yaml", s.openAPI)
	r.GET("/docs", s.docsIndex)
	r.GET("/docs/:file", s.handle(s.docsAsset))
	r.GET("/notices/:key", s.handle(s.noticePage))
	r.GET("/consent-assets/:file", s.handle(s.flowAsset))
	// The hosted consent flow: a session cookie (a subject token), the
	// same rate limit and route policy as the API; pages, not problems.
	flow := r.Group("/consent", s.flowSession(), s.rateLimit(), s.authorize())
	flow.GET("/:key", s.consentPage)
	flow.POST("/:key", s.consentSubmit)
	flow.POST("/:key/withdraw", s.consentWithdraw)
	flow.GET("/:key/receipts/:id", s.consentReceipt)
	r.GET("/.well-known/jwks.json", s.jwks)

	v1 := r.Group("/v1", s.authenticate(), s.rateLimit(), s.authorize(), s.subjectScope())
	v1.POST("/clients", s.handle(s.createClient))
	v1.GET("/clients", s.handle(s.listClients))
	v1.POST("/clients/:id/revoke", s.handle(s.revokeClient))
	v1.POST("/clients/:id/rotate", s.handle(s.rotateClient))

	v1.PUT("/purposes/:key", s.handle(s.putPurpose))
	v1.GET("/purposes", s.handle(s.listPurposes))
	v1.GET("/categories", s.handle(s.listCategories))

	v1.POST("/devices", s.handle(s.createDevice))
	v1.GET("/devices", s.handle(s.listDevices))
	v1.GET("/devices/resolve", s.handle(s.resolveDevice))
	v1.GET("/devices/:id", s.handle(s.getDevice))
	v1.PATCH("/devices/:id", s.handle(s.updateDevice))
	v1.GET("/devices/:id/history", s.handle(s.deviceHistory))
	v1.POST("/devices/:id/members", s.handle(s.addMember))
	v1.GET("/devices/:id/members", s.handle(s.listMembers))
	v1.DELETE("/devices/:id/members/:member", s.handle(s.removeMember))
	v1.POST("/devices/:id/deactivate", s.handle(s.deactivateDevice))
	v1.POST("/devices/:id/dispose", s.handle(s.disposeDevice))
	v1.POST("/devices/:id/activate", s.handle(s.activateDevice))
	v1.POST("/devices/:id/transfer", s.handle(s.transferDevice))
	v1.POST("/devices/:id/transfer/accept", s.handle(s.acceptTransfer))
	v1.GET("/devices/:id/owners", s.handle(s.listOwners))
	v1.POST("/devices/:id/sanitization", s.handle(s.attestSanitization))
	v1.GET("/devices/:id/sanitization", s.handle(s.listSanitizations))
	v1.PUT("/devices/:id/inventory", s.handle(s.putInventory))
	v1.GET("/devices/:id/inventory", s.handle(s.getInventory))

	v1.POST("/notices", s.handle(s.createNotice))
	v1.POST("/notices/:key/versions", s.handle(s.draftNoticeVersion))
	v1.GET("/notices/:key/versions/current", s.handle(s.currentNotice))
	v1.GET("/notices/:key/versions/:version", s.handle(s.getNoticeVersion))
	v1.PUT("/notices/:key/versions/:version", s.handle(s.updateNoticeDraft))
	v1.DELETE("/notices/:key/versions/:version", s.handle(s.deleteNoticeDraft))
	v1.POST("/notices/:key/versions/:version/publish", s.handle(s.publishNoticeVersion))
	v1.GET("/notices/:key/coverage", s.handle(s.noticeCoverage))

	v1.POST("/subject-tokens", s.handle(s.mintSubjectToken))
	v1.POST("/consents", s.handle(s.recordConsent))
	v1.GET("/consents/:id", s.handle(s.getConsent))
	v1.POST("/consents/:id/withdraw", s.handle(s.withdrawConsent))
	v1.GET("/subjects/:subject/consents", s.handle(s.subjectConsents))
	v1.GET("/subjects/:subject/privacy", s.handle(s.subjectPrivacy))
	v1.PUT("/subjects/:subject/child", s.handle(s.declareChild))
	v1.GET("/subjects/:subject/child", s.handle(s.getChild))
	v1.POST("/subjects/:subject/child/majority", s.handle(s.declareMajority))
	v1.POST("/subjects/:subject/withdraw", s.handle(s.withdrawSubject))
	v1.POST("/subjects/:subject/requests", s.handle(s.createSubjectRequest))
	v1.GET("/subjects/:subject/requests", s.handle(s.listSubjectRequests))
	v1.GET("/subjects/requests", s.handle(s.listOpenRequests))
	v1.GET("/subjects/requests/:id", s.handle(s.getSubjectRequest))
	v1.GET("/subjects/requests/:id/export", s.handle(s.exportSubjectRequest))
	v1.POST("/subjects/requests/:id/confirmations", s.handle(s.confirmSubjectRequest))
	v1.POST("/subjects/requests/:id/close", s.handle(s.closeSubjectRequest))

	v1.POST("/decisions", s.handle(s.decideOne))
	v1.POST("/decisions/batch", s.handle(s.decideBatch))
	v1.GET("/decisions/:id", s.handle(s.getDecision))
	v1.GET("/policies", s.handle(s.listPolicies))
	v1.POST("/policies", s.handle(s.addPolicy))
	v1.DELETE("/policies", s.handle(s.removePolicy))

	v1.GET("/audit/entries", s.handle(s.listAuditEntries))
	v1.GET("/audit/entries/:seq/proof", s.handle(s.getInclusionProof))
	v1.GET("/audit/consistency", s.handle(s.getConsistencyProof))
	v1.GET("/audit/checkpoint", s.handle(s.getCheckpoint))
	v1.GET("/audit/key", s.handle(s.getAuditKey))
	v1.POST("/audit/hash", s.handle(s.hashValue))

	v1.GET("/evidence", s.handle(s.getEvidence))
	v1.GET("/evidence/report", s.handle(s.getEvidenceReport))
	v1.GET("/incidents/devices", s.handle(s.incidentDevices))
	v1.GET("/findings", s.handle(s.listFindings))
	v1.POST("/findings/:id/acknowledge", s.handle(s.acknowledgeFinding))

	v1.POST("/webhooks", s.handle(s.createWebhook))
	v1.GET("/webhooks", s.handle(s.listWebhooks))
	v1.GET("/webhooks/:id", s.handle(s.getWebhook))
	v1.DELETE("/webhooks/:id", s.handle(s.deleteWebhook))
	v1.GET("/webhooks/:id/deliveries", s.handle(s.listDeliveries))
	v1.POST("/webhooks/:id/deliveries/:delivery/retry", s.handle(s.retryDelivery))
	return r
}
