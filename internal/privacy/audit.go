package privacy

import (
	"context"
	"time"
)

// Actor is who caused an event: an API client with its role, or the
// service itself ("system") for its own start and stop.
type Actor struct {
	ClientID string
	Role     string
}

// SystemActor is the actor of events the service causes on its own.
var SystemActor = Actor{ClientID: "system", Role: "system"}

type actorKey struct{}
type requestIDKey struct{}

// WithActor returns ctx carrying the actor of the request.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, or SystemActor.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return SystemActor
}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id ctx carries, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// AuditLeaf is one stored audit entry: its sequence number (its leaf index
// in the Merkle tree) and its exact leaf bytes.
type AuditLeaf struct {
	Seq  int64
	Leaf []byte
	// Stored is Leaf as the database stores it (store.PackLeaf), when
	// made ahead of the insert; nil: the store makes it.
	Stored           []byte
	Action           string
	SubjectPseudonym string
	CreatedAt        time.Time
}

// Checkpoint is a signed statement of the audit tree's size and root.
type Checkpoint struct {
	Size     int64
	Root     []byte
	Note     string
	SignedAt time.Time
}
