package httpapi

import (
	"github.com/consentry/consentry/internal/event"
	"github.com/gin-gonic/gin"
)

// noteReads records that the request read the personal data of subjects
// (ISO/IEC 27400 Control 12): one personal_data.read entry per subject,
// naming the route; the actor and request id come with the request. The
// entries are queued and written with the next commit (audit.Log.Note):
// a read waits for no fsync.
func (s *Server) noteReads(c *gin.Context, subjects ...string) {
	if len(subjects) == 0 {
		return
	}
	seen := make(map[string]bool, len(subjects))
	events := make([]event.Event, 0, len(subjects))
	for _, subject := range subjects {
		if subject == "" || seen[subject] {
			continue
		}
		seen[subject] = true
		events = append(events, event.PersonalDataRead{Subject: subject, Route: c.FullPath()})
	}
	s.audit.Note(c.Request.Context(), events...)
}
