package privacy

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Role is what an API client is for. It is the subject of every Casbin
// rule in policies/ (ISO/IEC 27400 Controls 15 and 16: access is granted by
// role, each role only what its job needs).
type Role string

// The four roles. A new role is a contract change: add it here, to the
// policy, and to openapi.yaml.
const (
	// RoleAdmin is the operator: clients, purposes, devices, inventories.
	RoleAdmin Role = "admin"
	// RoleApp is a mobile or web app that shows notices and records consent.
	RoleApp Role = "app"
	// RoleService is a backend that asks for access decisions.
	RoleService Role = "service"
	// RoleAuditor reads the audit log and exports evidence.
	RoleAuditor Role = "auditor"
	// RoleSubject is not a client: it is a short-lived token an app mints
	// for one person, reaching only that person's consents and views.
	RoleSubject Role = "subject"
)

// Roles lists every role, in a stable order for help texts.
var Roles = []Role{RoleAdmin, RoleApp, RoleService, RoleAuditor}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// Client is an API client: something that holds a bearer token. The token
// itself is never part of it; only its hash is stored, by the store.
type Client struct {
	ID        string
	Name      string
	Role      Role
	CreatedAt time.Time
	// Subject is, for a subject token, the one person it acts for.
	Subject string
	// ExpiresAt, when set, is when the client's tokens stop working.
	ExpiresAt time.Time
	// RevokedAt, when set, is when the client was revoked: its tokens
	// stopped working then, for good.
	RevokedAt time.Time
	// RotatedAt is when the token was last replaced; PreviousExpiresAt is
	// when the token it replaced stops (or stopped) working.
	RotatedAt         time.Time
	PreviousExpiresAt time.Time
	// RedirectURIs are where the hosted consent flow may send a person
	// back to this app (app clients only). Omitted when empty, so that
	// the audit payload of a client without any keeps its bytes.
	RedirectURIs []string `json:",omitempty"`
}

// ClientStatus is whether a client's tokens work.
type ClientStatus string

// The statuses of a client.
const (
	ClientActive  ClientStatus = "active"
	ClientExpired ClientStatus = "expired"
	ClientRevoked ClientStatus = "revoked"
)

// Status is the client's status at now.
func (c Client) Status(now time.Time) ClientStatus {
	switch {
	case !c.RevokedAt.IsZero():
		return ClientRevoked
	case !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt):
		return ClientExpired
	}
	return ClientActive
}

// MaxRotationGrace is the longest a replaced token may keep working.
const MaxRotationGrace = 30 * 24 * time.Hour

// Validate checks a client before it is created.
func (c *Client) Validate() error {
	var p Problems
	checkText(&p, "name", c.Name, true, 100, oneLine)
	if !c.Role.Valid() {
		p.Add("role", "must be one of admin, app, service, auditor")
	}
	if len(c.RedirectURIs) > 0 && c.Role != RoleApp {
		p.Add("redirect_uris", "only app clients have redirect URIs: they return people from the hosted consent flow to an app")
	}
	if len(c.RedirectURIs) > MaxRedirectURIs {
		p.Add("redirect_uris", "at most %d", MaxRedirectURIs)
	}
	for i, u := range c.RedirectURIs {
		if err := CheckRedirectURI(u); err != "" {
			p.Add(fmt.Sprintf("redirect_uris[%d]", i), "%s", err)
		} else if slices.Index(c.RedirectURIs, u) != i {
			p.Add(fmt.Sprintf("redirect_uris[%d]", i), "is listed twice")
		}
	}
	return p.Err("invalid client")
}

// MaxRedirectURIs is how many redirect URIs an app client may register.
const MaxRedirectURIs = 10

// CheckRedirectURI says what is wrong with u as a redirect URI ("" when
// nothing), as RFC 8252 has native apps register them: https, http on a
// loopback address only, or a private-use scheme in reverse-domain form
// (com.example.app:/consent); absolute, without a fragment or user info.
func CheckRedirectURI(u string) string {
	if len(u) > 500 {
		return "must be at most 500 characters"
	}
	parsed, err := url.Parse(u)
	switch {
	case err != nil || !parsed.IsAbs():
		return "must be an absolute URI"
	case parsed.Fragment != "" || strings.Contains(u, "#"):
		return "must not have a fragment"
	case parsed.User != nil:
		return "must not carry user info"
	}
	switch scheme := strings.ToLower(parsed.Scheme); {
	case scheme == "https":
		if parsed.Host == "" {
			return "needs a host"
		}
	case scheme == "http":
		host := parsed.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "http only on a loopback address (127.0.0.1, [::1], localhost); use https"
		}
	case strings.Contains(scheme, "."):
		// A private-use scheme: reverse domain name of the app (RFC 8252 §7.1).
	default:
		return "must be https, http on a loopback address, or a private-use scheme such as com.example.app:/consent"
	}
	return ""
}
