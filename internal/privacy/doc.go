// Package privacy is Consentry's domain: the types that the ISO/IEC 27400
// privacy controls talk about (API clients and their roles, purposes,
// devices and their data inventories), the error type every layer returns,
// and the pure rules that decide whether a value is acceptable.
//
// It imports only the standard library (and a duration parser), knows no
// HTTP and no database, so the rules here are the same whichever adapter
// calls them.
package privacy
