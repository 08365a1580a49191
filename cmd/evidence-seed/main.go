// Command evidence-seed fills a data directory with a large, realistic
// history (consents with receipts, then decisions) through the real
// services, so that evidence export and verification can be measured at
// scale: see docs/performance.md and `make evidence-load`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/loadgen"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/webhook"
)

func main() {
	dir := flag.String("data-dir", "", "data directory to fill (created; must not hold a database yet)")
	consents := flag.Int("consents", 200_000, "consent records to make, one subject each")
	entries := flag.Int64("entries", 1_000_000, "audit log size to reach, with decisions")
	workers := flag.Int("workers", 32, "concurrent callers")
	flag.Parse()
	if err := seed(*dir, *consents, *entries, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "evidence-seed:", err)
		os.Exit(1)
	}
}

func seed(dir string, consents int, entries int64, workers int) error {
	if dir == "" {
		return errors.New("--data-dir is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "consentry.db")); err == nil {
		return fmt.Errorf("%s already holds a database", dir)
	}
	ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "seed", Role: "operator"})
	db, err := store.Open(ctx, filepath.Join(dir, "consentry.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	keys, err := audit.LoadOrCreateKeys(dir, "consentry/seed")
	if err != nil {
		return err
	}
	data, err := authz.NewData(func() authz.Lines { return db.Read(context.Background()) })
	if err != nil {
		return err
	}
	memory := decide.NewMemory()
	log, err := audit.New(db, keys, audit.Options{Log: slog.New(slog.DiscardHandler),
		React: &app.Reactions{Memory: memory, Policy: data, Outbox: webhook.NewOutbox()}})
	if err != nil {
		return err
	}
	log.Start()
	defer log.Close()
	receipts, err := consent.OpenKeys(filepath.Join(dir, "receipt-keys.json"))
	if err != nil {
		return err
	}
	if _, _, err := purpose.NewService(db, log).Put(ctx, privacy.Purpose{Key: "navigation", Name: "Navigation", Description: "Routes", LegalBasis: privacy.BasisConsent}); err != nil {
		return err
	}
	notices := notice.NewService(db, log)
	if _, err := notices.Create(ctx, "tracker", "en"); err != nil {
		return err
	}
	v, err := notices.Draft(ctx, "tracker", privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example"},
		Purposes: []privacy.NoticePurpose{{Purpose: "navigation", LegalBasis: privacy.BasisConsent, Elements: []string{"location"},
			CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor}, CollectionScope: "trips", Retention: "P30D"}},
		Texts: map[string]privacy.NoticeText{"en": {Title: "Tracker", Body: "We use where you are to plan routes.",
			Purposes: map[string]privacy.PurposeText{"navigation": {Name: "Navigation", CollectionScope: "During trips."}},
			Elements: map[string]string{"location": "Where you are"}}}})
	if err != nil {
		return err
	}
	if v, err = notices.Publish(ctx, "tracker", v.Version); err != nil {
		return err
	}
	devices := device.NewService(db, log)
	dev, err := devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "Tracker", Serial: "SEED-1", Firmware: "1", NoticeKey: "tracker"})
	if err != nil {
		return err
	}
	if _, _, err := devices.PutInventory(ctx, dev.ID, "seed", []privacy.DataElement{{Key: "location", Description: "GPS position",
		Category: "personal.location.precise", Sensitivity: privacy.SensitivitySensitive, Purposes: []string{"navigation"},
		CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}}); err != nil {
		return err
	}
	if err := policy.NewService(db, log, data).Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner",
		Category: "personal.location.*", Purpose: "navigation", Action: "use", Effect: "allow"}}); err != nil {
		return err
	}

	start := time.Now()
	cs := consent.NewService(db, log, receipts, "https://consentry.example")
	if err := loadgen.Parallel(consents, workers, func(i int) error {
		_, err := cs.Record(ctx, consent.Input{SubjectID: fmt.Sprintf("subject-%07d", i), DeviceID: dev.ID, NoticeKey: "tracker",
			NoticeVersion: v.Version, NoticeHash: v.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "seed",
			Choices: []privacy.ConsentChoice{{Purpose: "navigation", Granted: i%4 != 0}}})
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("%d consents in %s\n", consents, time.Since(start).Round(time.Second))

	start = time.Now()
	ds := decide.NewService(db, log, data, memory)
	size, err := log.Size(ctx)
	if err != nil {
		return err
	}
	const batch = 100
	batches := int((entries - size + batch - 1) / batch)
	if batches < 0 {
		batches = 0
	}
	if err := loadgen.Parallel(batches, workers, func(b int) error {
		rs := make([]decide.Request, batch)
		for i := range rs {
			rs[i] = decide.Request{ServiceID: "seed", ServiceName: "route-planner", Subject: fmt.Sprintf("subject-%07d", (b*batch+i)%max(consents, 1)),
				DeviceID: dev.ID, Element: "location", Purpose: "navigation", Action: "use"}
		}
		_, err := ds.DecideBatch(ctx, rs)
		return err
	}); err != nil {
		return err
	}
	size, err = log.Size(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%d decisions in %s; the audit log holds %d entries\n", batches*batch, time.Since(start).Round(time.Second), size)
	return nil
}
