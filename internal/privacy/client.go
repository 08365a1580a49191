package privacy

import "time"

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
	return p.Err("invalid client")
}
