// Package policies holds the Casbin model and policy that say which role may
// call which route. They are data, not code: a route with no line here is
// denied to every role.
package policies

import _ "embed"

// Model is the Casbin model: a request (role, route template, method) is
// allowed only by a policy line naming exactly that triple.
//
//go:embed routes_model.conf
var Model string

// Routes is the role → route policy, one "p, role, route, METHOD" a line.
//
//go:embed routes_policy.csv
var Routes string

// DataModel is the Casbin model of the data policy: (service or group,
// data category pattern, purpose, action, effect), deny overriding allow.
// The shipped policy has no rule: nothing is allowed until an admin says so.
//
//go:embed data_model.conf
var DataModel string
