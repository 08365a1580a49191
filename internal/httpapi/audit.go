package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	"golang.org/x/mod/sumdb/tlog"
)

// auditEntry is one audit entry with its exact leaf bytes.
type auditEntry struct {
	// Sequence number = leaf index in the Merkle tree, from 0.
	Seq int64 `json:"seq" example:"0"`
	// The leaf bytes (the entry's RFC 8785 canonical JSON), base64. The
	// leaf hash is SHA-256(0x00 || leaf) (RFC 6962).
	Leaf string `json:"leaf" format:"byte"`
	// The same entry, parsed, for reading; null when the stored leaf is not
	// JSON at all (a log altered in the database): the leaf is served as
	// stored, and a verifier names the entry.
	Entry json.RawMessage `json:"entry" swaggertype:"object" extensions:"x-nullable"`
}

// auditEntryList is one page of entries.
type auditEntryList struct {
	Items []auditEntry `json:"items"`
	// Pass as ?from= for the next page; absent when the page is the last.
	NextFrom *int64 `json:"next_from,omitempty" example:"100"`
}

// inclusionProof proves one entry is in a tree.
type inclusionProof struct {
	Seq      int64 `json:"seq" example:"3"`
	TreeSize int64 `json:"tree_size" example:"10"`
	// SHA-256(0x00 || leaf), base64.
	LeafHash string `json:"leaf_hash" format:"byte"`
	// The RFC 6962 audit path, bottom up, each hash base64.
	Proof []string `json:"proof"`
}

// consistencyProof proves a smaller tree is a prefix of a larger one.
type consistencyProof struct {
	From int64 `json:"from" example:"5"`
	To   int64 `json:"to" example:"10"`
	// The RFC 6962 consistency proof, each hash base64.
	Proof []string `json:"proof"`
}

// hashRequest asks for the HMAC of a value.
type hashRequest struct {
	// A subject id (or any value) to look for in the log.
	Value string `json:"value" binding:"required" maxLength:"1000" example:"user-7f3a"`
}

// hashResponse is the HMAC under which the log stores the value.
type hashResponse struct {
	// The subject's pseudonym in the log (64 hex digits, drawn at random
	// when the subject was first seen); search with GET /v1/audit/entries?subject=.
	Pseudonym string `json:"pseudonym" example:"9f2c…"`
	// The same value, under the field's former name (pseudonyms were HMACs of subject ids).
	HMAC string `json:"hmac" example:"9f2c…"`
}

// queryInt reads an optional non-negative integer query parameter.
func queryInt(q url.Values, name string, def int64) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, privacy.FieldErrorf(privacy.EInvalid, name, "must be a whole number of 0 or more")
	}
	return n, nil
}

func b64(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// listAuditEntries pages through the log.
//
// @Summary  List audit entries
// @ID       listAuditEntries
// @Description Entries in sequence order from ?from=. Filter by action, or by subject with the HMAC from POST /v1/audit/hash.
// @Tags     audit
// @Security BearerAuth
// @Produce  json
// @Param    from    query int    false "first sequence number (default 0)" minimum(0)
// @Param    limit   query int    false "page size, 1-1000 (default 100)" minimum(1) maximum(1000)
// @Param    action  query string false "only this action, e.g. device.registered"
// @Param    subject query string false "only entries about this subject HMAC"
// @Success  200 {object} auditEntryList
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read the audit log"
// @Failure  422 {object} problem "bad from or limit"
// @Router   /v1/audit/entries [get]
func (s *Server) listAuditEntries(c *gin.Context) error {
	q, err := strictQuery(c, "from", "limit", "action", "subject")
	if err != nil {
		return err
	}
	from, err := queryInt(q, "from", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(q, "limit", 100)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 1000 {
		return privacy.FieldErrorf(privacy.EInvalid, "limit", "must be between 1 and 1000")
	}
	leaves, err := s.audit.Entries(c.Request.Context(), audit.Filter{From: from, Limit: int(limit) + 1,
		Action: q.Get("action"), SubjectPseudonym: q.Get("subject")})
	if err != nil {
		return err
	}
	out := auditEntryList{Items: make([]auditEntry, 0, len(leaves))}
	if len(leaves) > int(limit) {
		next := leaves[limit].Seq
		out.NextFrom, leaves = &next, leaves[:limit]
	}
	for _, l := range leaves {
		e := auditEntry{Seq: l.Seq, Leaf: base64.StdEncoding.EncodeToString(l.Leaf), Entry: json.RawMessage("null")}
		if json.Valid(l.Leaf) {
			e.Entry = json.RawMessage(l.Leaf)
		}
		out.Items = append(out.Items, e)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// getCheckpoint returns the latest signed checkpoint, signing one first if
// the log has grown.
//
// @Summary  Signed checkpoint
// @ID       getAuditCheckpoint
// @Description A C2SP tlog-checkpoint signed note: origin line, tree size, base64 root hash, blank line, Ed25519 signature line. Verify it with GET /v1/audit/key.
// @Tags     audit
// @Security BearerAuth
// @Produce  plain
// @Success  200 {string} string "the signed note"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read the audit log"
// @Failure  404 {object} problem "the log is empty"
// @Failure  503 {object} problem "the log is inconsistent with its last signed checkpoint; the server refuses to sign"
// @Router   /v1/audit/checkpoint [get]
func (s *Server) getCheckpoint(c *gin.Context) error {
	cp, err := s.audit.Checkpoint(c.Request.Context())
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(cp.Note))
	return nil
}

// getAuditKey returns the checkpoint verifier key.
//
// @Summary  Checkpoint verifier key
// @ID       getAuditKey
// @Description The Ed25519 public key in the C2SP signed-note text form, name+hash+base64. Pin it: `consentry audit verify --key`.
// @Tags     audit
// @Security BearerAuth
// @Produce  plain
// @Success  200 {string} string "name+hash+base64"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read the audit log"
// @Router   /v1/audit/key [get]
func (s *Server) getAuditKey(c *gin.Context) error {
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(s.audit.VerifierKey()+"\n"))
	return nil
}

// treeSize is ?name=, defaulting to the latest signed checkpoint's size,
// so that a proof checks against a note the caller can verify.
func (s *Server) treeSize(c *gin.Context, q url.Values, name string) (int64, error) {
	if q.Get(name) != "" {
		return queryInt(q, name, 0)
	}
	cp, err := s.audit.Checkpoint(c.Request.Context())
	if err != nil {
		return 0, err
	}
	return cp.Size, nil
}

// getInclusionProof proves an entry is in the tree.
//
// @Summary  Inclusion proof
// @ID       getAuditInclusionProof
// @Tags     audit
// @Security BearerAuth
// @Produce  json
// @Param    seq  path  int true  "sequence number" minimum(0)
// @Param    size query int false "tree size (default: the latest signed checkpoint's)" minimum(1)
// @Success  200 {object} inclusionProof
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read the audit log"
// @Failure  404 {object} problem "the log is empty"
// @Failure  422 {object} problem "seq not below size, or size beyond the log"
// @Router   /v1/audit/entries/{seq}/proof [get]
func (s *Server) getInclusionProof(c *gin.Context) error {
	q, err := strictQuery(c, "size")
	if err != nil {
		return err
	}
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq < 0 {
		return privacy.FieldErrorf(privacy.EInvalid, "seq", "must be a whole number of 0 or more")
	}
	size, err := s.treeSize(c, q, "size")
	if err != nil {
		return err
	}
	leaf, proof, err := s.audit.InclusionProof(c.Request.Context(), seq, size)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, inclusionProof{Seq: seq, TreeSize: size, LeafHash: base64.StdEncoding.EncodeToString(leaf[:]), Proof: b64(proof)})
	return nil
}

// getConsistencyProof proves one tree extends another.
//
// @Summary  Consistency proof
// @ID       getAuditConsistencyProof
// @Tags     audit
// @Security BearerAuth
// @Produce  json
// @Param    from query int true  "the older tree size" minimum(1)
// @Param    to   query int false "the newer tree size (default: the latest signed checkpoint's)" minimum(1)
// @Success  200 {object} consistencyProof
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read the audit log"
// @Failure  404 {object} problem "the log is empty"
// @Failure  422 {object} problem "from missing, from > to, or to beyond the log"
// @Router   /v1/audit/consistency [get]
func (s *Server) getConsistencyProof(c *gin.Context) error {
	q, err := strictQuery(c, "from", "to")
	if err != nil {
		return err
	}
	if q.Get("from") == "" {
		return privacy.FieldErrorf(privacy.EInvalid, "from", "is required")
	}
	from, err := queryInt(q, "from", 0)
	if err != nil {
		return err
	}
	to, err := s.treeSize(c, q, "to")
	if err != nil {
		return err
	}
	proof, err := s.audit.ConsistencyProof(c.Request.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, consistencyProof{From: from, To: to, Proof: b64(proof)})
	return nil
}

// hashValue looks up the pseudonym the log names a subject by.
//
// @Summary  Pseudonym of a subject id
// @ID       hashAuditValue
// @Description The log never holds subject ids, only pseudonyms drawn at random when a subject is first seen; the server alone keeps which subject each stands for, until the subject is erased. An admin looks one up here, so that an auditor can search the log for one subject. A subject never seen, or erased, has none: 404.
// @Tags     audit
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body hashRequest true "the value"
// @Success  200 {object} hashResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not hash values"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  404 {object} problem "no subject by that id: never seen, or erased"
// @Failure  422 {object} problem "value missing"
// @Router   /v1/audit/hash [post]
func (s *Server) hashValue(c *gin.Context) error {
	var req hashRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if len(req.Value) > 1000 {
		return privacy.FieldErrorf(privacy.EInvalid, "value", "must be at most 1000 bytes")
	}
	c.Header("Cache-Control", "no-store")
	p, err := s.audit.PseudonymOf(c.Request.Context(), req.Value)
	if err != nil {
		return err
	}
	if p == "" || privacy.IsErasedSubject(req.Value) {
		return privacy.Errorf(privacy.ENotFound, "no subject by that id: never seen, or erased")
	}
	writeJSON(c, http.StatusOK, hashResponse{Pseudonym: p, HMAC: p})
	return nil
}
