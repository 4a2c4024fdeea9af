package http

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes the API as OpenAPI 3.0. It is written by hand; a test checks that it
// documents exactly the routes of the route table.
//
//go:embed openapi.json
var openAPIDoc []byte

// serveOpenAPI answers GET /api/v1/openapi.json.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
	return nil
}
