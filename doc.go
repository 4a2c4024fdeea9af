// Package mih holds the domain of the Integration Hub for Moodle: events, services, rules,
// deliveries and the request log, their validation, and the interfaces the adapters implement
// (stores in store/sqlite and store/postgres, transports in transport/...).
//
// It imports only the standard library. Adapters import mih and never each other; only cmd/mih
// wires everything together.
package mih
