package privacy

import "sort"

// Category is one node of the data category taxonomy shipped with
// Consentry. Keys are dotted paths; where W3C DPV (https://w3id.org/dpv)
// has a matching concept, DPV names it, so an inventory can be exported in
// DPV terms without a mapping table of the operator's own.
type Category struct {
	Key         string
	Description string
	// Floor is the least sensitivity an element of this category may be
	// declared with: a heart rate is never "none".
	Floor Sensitivity
	DPV   string
}

// taxonomy is the shipped category list. Sorted by key on first use.
var taxonomy = []Category{
	{"nonpersonal.device.status", "device state not linked to a person: battery, uptime, error codes", SensitivityNone, "dpv:NonPersonalData"},
	{"nonpersonal.device.diagnostics", "aggregate diagnostics and crash reports with no identifier", SensitivityNone, "dpv:NonPersonalData"},
	{"nonpersonal.environment.sensor", "ambient readings (temperature, humidity, light, air quality) of a space with no occupant data", SensitivityNone, "dpv:NonPersonalData"},
	{"personal.identifier.device", "a device identifier linkable to its owner: serial, MAC address, advertising id", SensitivityPersonal, "pd:DeviceBased"},
	{"personal.identifier.network", "network identifiers: IP address, Wi-Fi SSID", SensitivityPersonal, "pd:IPAddress"},
	{"personal.identifier.account", "account identifiers: user id, user name", SensitivityPersonal, "pd:Identifying"},
	{"personal.contact.email", "e-mail address", SensitivityPersonal, "pd:EmailAddress"},
	{"personal.contact.phone", "telephone number", SensitivityPersonal, "pd:TelephoneNumber"},
	{"personal.contact.address", "postal or installation address", SensitivityPersonal, "pd:PhysicalAddress"},
	{"personal.name", "a person's name", SensitivityPersonal, "pd:Name"},
	{"personal.location.precise", "precise geolocation (GNSS, Wi-Fi positioning), finer than about 1 km", SensitivityPersonal, "pd:Location"},
	{"personal.location.coarse", "coarse location: city, region, country", SensitivityPersonal, "pd:Location"},
	{"personal.behavioral.usage", "how and when a person uses the device or service", SensitivityPersonal, "pd:Behavioral"},
	{"personal.behavioral.presence", "occupancy and presence at home, motion events", SensitivityPersonal, "pd:Behavioral"},
	{"personal.environment.household", "readings that reveal household life: energy use, room occupancy", SensitivityPersonal, "pd:Behavioral"},
	{"personal.media.audio", "audio recordings, voice commands", SensitivitySensitive, "pd:VoiceCommunicationRecording"},
	{"personal.media.image", "photographs and video of people", SensitivitySensitive, "pd:Picture"},
	{"personal.health.vitals", "heart rate, blood pressure, blood oxygen, temperature of a person", SensitivitySensitive, "pd:Health"},
	{"personal.health.activity", "steps, sleep, exercise", SensitivitySensitive, "pd:Health"},
	{"personal.biometric", "fingerprint, face or voice templates used to identify a person", SensitivitySensitive, "pd:Biometric"},
	{"personal.child", "data about a child", SensitivitySensitive, "pd:Age"},
}

func init() {
	sort.Slice(taxonomy, func(i, j int) bool { return taxonomy[i].Key < taxonomy[j].Key })
}

// Categories returns the taxonomy, sorted by key. The slice is a copy.
func Categories() []Category {
	return append([]Category(nil), taxonomy...)
}

// LookupCategory finds a category by key.
func LookupCategory(key string) (Category, bool) {
	i := sort.Search(len(taxonomy), func(i int) bool { return taxonomy[i].Key >= key })
	if i < len(taxonomy) && taxonomy[i].Key == key {
		return taxonomy[i], true
	}
	return Category{}, false
}
