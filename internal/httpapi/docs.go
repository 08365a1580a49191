package httpapi

import (
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	swaggerfiles "github.com/swaggo/files/v2"
)

// openAPI serves the contract.
//
// @Summary  The OpenAPI 3 contract
// @ID       openAPI
// @Tags     operations
// @Produce  application/yaml
// @Success  200 {string} string "openapi.yaml"
// @Router   /openapi.yaml [get]
func (s *Server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", s.openapi)
}

// docsPage is Swagger UI's page, pointed at our own contract. The UI's
// files are embedded (swaggo/files), so /docs works with no network.
const docsPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>Consentry API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/consentry-init.js"></script>
</body>
</html>
`

// docsInit starts Swagger UI. It is a file, not inline script, so a strict
// Content-Security-Policy can forbid inline scripts.
const docsInit = `window.onload = function () {
  window.ui = SwaggerUIBundle({url: "/openapi.yaml", dom_id: "#swagger-ui", deepLinking: true});
};
`

// docsIndex serves Swagger UI.
//
// @Summary  Swagger UI
// @ID       docsIndex
// @Tags     operations
// @Produce  html
// @Success  200 {string} string "HTML page"
// @Router   /docs [get]
func (s *Server) docsIndex(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(docsPage))
}

// docsAsset serves one Swagger UI file.
//
// @Summary  Swagger UI asset
// @ID       docsAsset
// @Tags     operations
// @Produce  text/css
// @Produce  text/javascript
// @Produce  image/png
// @Produce  html
// @Param    file path string true "file name, e.g. swagger-ui.css"
// @Success  200 {string} string "the file"
// @Failure  404 {object} problem "no such file"
// @Router   /docs/{file} [get]
func (s *Server) docsAsset(c *gin.Context) error {
	name := c.Param("file")
	if name == "consentry-init.js" {
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", []byte(docsInit))
		return nil
	}
	b, err := fs.ReadFile(swaggerfiles.FS, name)
	if err != nil {
		return privacy.Errorf(privacy.ENotFound, "no such file")
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Data(http.StatusOK, ct, b)
	return nil
}
