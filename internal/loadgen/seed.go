package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Subject is the i-th subject's id.
func Subject(i int) string { return "peer-" + strconv.Itoa(i) }

// Granted reports whether subject i consents (nine in ten do).
func Granted(i int) bool { return i%10 != 9 }

// DataSet is what Seed records: one device with one element declared for
// one purpose, Rules policy rules (the first lets service-client use the
// category for the purpose; the others share other categories), and a
// choice for each of Subjects subjects, nine in ten granting.
type DataSet struct {
	Subjects, Rules            int
	Purpose, Element, Category string
}

// Seeded is what Seed recorded: the device, the notice version in force
// and its hash (what a consent must name), and the grants' expiry by
// subject, in Unix nanoseconds.
type Seeded struct {
	Device        string
	NoticeVersion int
	NoticeHash    string
	Expires       map[string]int64
}

// Seed records d through base's API with an admin and an app token.
func Seed(ctx context.Context, base, admin, app string, d DataSet) (Seeded, error) {
	var dev struct {
		ID string `json:"id"`
	}
	if err := Call(ctx, http.MethodPost, base+"/v1/devices", admin, map[string]any{"manufacturer": "Acme", "model": "Cam",
		"serial": "PEERS-1", "firmware_version": "1", "notice_key": "acme-cam"}, &dev); err != nil {
		return Seeded{}, err
	}
	if err := Call(ctx, http.MethodPut, base+"/v1/devices/"+dev.ID+"/inventory", admin, map[string]any{"elements": []map[string]any{{
		"key": d.Element, "description": "Camera video", "category": d.Category, "sensitivity": "sensitive", "purposes": []string{d.Purpose},
		"collection_method": "sensor", "retention": "P30D", "recipients": []string{"Acme Cloud Storage Ltd"}, "storage_region": "EU"}}}, nil); err != nil {
		return Seeded{}, err
	}
	err := Parallel(d.Rules, 16, func(i int) error {
		rule := map[string]any{"subject": "service-client", "category": "personal.*", "purpose": d.Purpose, "action": "use", "effect": "allow"}
		if i > 0 {
			rule = map[string]any{"subject": fmt.Sprintf("other-%d", i), "category": "personal.media.*", "purpose": d.Purpose, "action": "share", "effect": "allow"}
		}
		return Call(ctx, http.MethodPost, base+"/v1/policies", admin, rule, nil)
	})
	if err != nil {
		return Seeded{}, err
	}
	var notice struct {
		Version     int    `json:"version"`
		ContentHash string `json:"content_hash"`
	}
	if err := Call(ctx, http.MethodGet, base+"/v1/notices/acme-cam/versions/current", app, nil, &notice); err != nil {
		return Seeded{}, err
	}
	var mu sync.Mutex
	expires := make(map[string]int64, d.Subjects)
	err = Parallel(d.Subjects, 64, func(i int) error {
		var rec struct {
			Choices []struct {
				Granted   bool      `json:"granted"`
				ExpiresAt time.Time `json:"expires_at"`
			} `json:"choices"`
		}
		if err := Call(ctx, http.MethodPost, base+"/v1/consents", app, map[string]any{"subject": Subject(i), "device_id": dev.ID,
			"notice_key": "acme-cam", "notice_version": notice.Version, "notice_hash": notice.ContentHash, "locale": "en", "method": "app",
			"choices": []map[string]any{{"purpose": d.Purpose, "granted": Granted(i)}}}, &rec); err != nil {
			return err
		}
		if len(rec.Choices) == 1 && rec.Choices[0].Granted {
			mu.Lock()
			expires[Subject(i)] = rec.Choices[0].ExpiresAt.UnixNano()
			mu.Unlock()
		}
		return nil
	})
	return Seeded{Device: dev.ID, NoticeVersion: notice.Version, NoticeHash: notice.ContentHash, Expires: expires}, err
}
