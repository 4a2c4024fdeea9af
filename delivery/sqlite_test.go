package delivery_test

import "testing"

// openSQLite opens the real SQLite store on a file in the test's temp dir. synchronous=NORMAL
// keeps the tests fast; durability is the store's own tests' concern.
func openSQLite(t testing.TB) ledger { return openSQLiteSync(t, "NORMAL") }
