package httpapi

import (
	"encoding/csv"
	"net/http"
	"strings"

	"github.com/consentry/consentry/internal/incident"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// affectedDevice is one device an incident concerns.
type affectedDevice struct {
	Device deviceResponse `json:"device"`
	// The owner and every subject with a consent state on the device;
	// HMAC-SHA256 hex (as in the audit log) unless the caller is an admin.
	Subjects []string `json:"subjects"`
	// Purposes with a consent in force for at least one subject.
	PurposesInForce []string `json:"purposes_in_force"`
	// Recipients the current inventory declares for the elements collected
	// under those purposes.
	Recipients []string `json:"recipients"`
}

// incidentDevices lists every affected device.
type incidentDevices struct {
	Items []affectedDevice `json:"items"`
	// True when subjects are HMACs (the caller is not an admin).
	SubjectsHashed bool `json:"subjects_hashed"`
}

// maxIncidentJSON bounds the JSON answer; the CSV form has no bound.
const maxIncidentJSON = 10_000

// incidentDevicesHandler lists the devices an incident affects.
//
// @Summary  Devices affected by an incident
// @ID       incidentDevices
// @Description Every device of the manufacturer (and model), with firmware between firmware_from and firmware_to inclusive (compared as versions when both are semantic versions, e.g. 1.10.0 after 1.9.3; as text otherwise), the firmware it runs now, or ran at as_of, or ever ran (ever=true), from the history of its updates (PATCH /v1/devices/{id}): its subjects (the owner and everyone with a consent state on it; HMACs, as in the audit log, unless the caller is an admin), the purposes with a consent in force, and the recipients the current inventory declares for the data collected under them. With format=csv the list is streamed as text/csv (columns device_id, manufacturer, model, serial, firmware_version, status, subjects, purposes_in_force, recipients; lists joined with ';'), with no size bound; the JSON form holds at most 10,000 devices and answers 422 beyond. Each subject named is a read of personal data, recorded in the audit log (personal_data.read).
// @Tags     incidents
// @Security BearerAuth
// @Produce  json
// @Produce  text/csv
// @Param    manufacturer  query string true  "manufacturer (case-insensitive)"
// @Param    model         query string false "model (case-insensitive)"
// @Param    firmware_from query string false "lowest affected firmware version, inclusive"
// @Param    firmware_to   query string false "highest affected firmware version, inclusive"
// @Param    as_of         query string false "apply the firmware bounds to the firmware each device ran at this time (RFC 3339), from the history of its updates" format(date-time)
// @Param    ever          query bool   false "apply the firmware bounds to every firmware each device ever ran"
// @Param    format        query string false "json (default) or csv" Enums(json, csv)
// @Success  200 {object} incidentDevices
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only admins and auditors see incidents"
// @Failure  422 {object} problem "manufacturer missing, firmware_to before firmware_from, as_of or ever without a bound or together, bad format, or more than 10,000 devices in JSON (use format=csv)"
// @Router   /v1/incidents/devices [get]
func (s *Server) incidentDevices(c *gin.Context) error {
	q, err := strictQuery(c, "manufacturer", "model", "firmware_from", "firmware_to", "as_of", "ever", "format")
	if err != nil {
		return err
	}
	query := incident.Query{Manufacturer: q.Get("manufacturer"), Model: q.Get("model"), FirmwareFrom: q.Get("firmware_from"), FirmwareTo: q.Get("firmware_to")}
	if query.AsOf, err = queryTime(q.Get("as_of"), "as_of"); err != nil {
		return err
	}
	switch q.Get("ever") {
	case "", "false":
	case "true":
		query.Ever = true
	default:
		return privacy.FieldErrorf(privacy.EInvalid, "ever", "must be true or false")
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return privacy.FieldErrorf(privacy.EInvalid, "format", "must be json or csv")
	}
	if err := query.Validate(); err != nil {
		return err
	}
	// Subject ids are for admins; anyone else sees the audit log's
	// pseudonyms ("" for one that cannot be read: never the id).
	hashed := privacy.ActorFrom(c.Request.Context()).Role != string(privacy.RoleAdmin)
	pseudonym := func(id string) string {
		p, err := s.audit.PseudonymOf(c.Request.Context(), id)
		if err != nil {
			return ""
		}
		return p
	}
	subjects := func(ids []string) []string {
		s.noteReads(c, ids...)
		out := make([]string, len(ids))
		for i, id := range ids {
			if hashed {
				id = pseudonym(id)
			}
			out[i] = id
		}
		return out
	}
	ctx := c.Request.Context()
	if format == "csv" {
		var w *csv.Writer
		start := func() error {
			if w != nil {
				return nil
			}
			c.Header("Content-Type", "text/csv; charset=utf-8")
			c.Header("Content-Disposition", `attachment; filename="incident-devices.csv"`)
			c.Status(http.StatusOK)
			w = csv.NewWriter(c.Writer)
			return w.Write([]string{"device_id", "manufacturer", "model", "serial", "firmware_version", "status", "subjects", "purposes_in_force", "recipients"})
		}
		err := s.incidents.Devices(ctx, query, func(a incident.Affected) error {
			if err := start(); err != nil {
				return err
			}
			d := a.Device
			return w.Write([]string{d.ID, d.Manufacturer, d.Model, d.Serial, d.Firmware, string(d.Status),
				strings.Join(subjects(a.Subjects), ";"), strings.Join(a.Purposes, ";"), strings.Join(a.Recipients, ";")})
		})
		if err != nil && !c.Writer.Written() {
			// Nothing has left yet (the CSV writer buffers): a problem
			// document can still answer.
			c.Writer.Header().Del("Content-Disposition")
			return err
		}
		if err == nil {
			if err = start(); err == nil {
				w.Flush()
				err = w.Error()
			}
		}
		if err != nil {
			s.streamFailed(c, "incident CSV", err)
		}
		return nil
	}
	out := incidentDevices{Items: []affectedDevice{}, SubjectsHashed: hashed}
	err = s.incidents.Devices(ctx, query, func(a incident.Affected) error {
		if len(out.Items) == maxIncidentJSON {
			return privacy.Errorf(privacy.EInvalid, "more than %d devices are affected: ask for format=csv", maxIncidentJSON)
		}
		dev := newDeviceResponse(a.Device)
		if hashed && dev.OwnerSubject != "" {
			dev.OwnerSubject = pseudonym(dev.OwnerSubject)
		}
		out.Items = append(out.Items, affectedDevice{Device: dev, Subjects: subjects(a.Subjects), PurposesInForce: a.Purposes, Recipients: a.Recipients})
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}
