package http

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The OpenAPI document and the route table describe the same API: every route is documented
// and every documented operation is a route.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	s := NewServer(Config{})
	routes := map[string]bool{}
	for _, rt := range s.routes {
		key := rt.Method + " " + rt.Pattern
		routes[key] = true
		if !documented[key] {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
	for key := range documented {
		if !routes[key] {
			t.Errorf("openapi.json documents %s, which is no route", key)
		}
	}
	if len(routes) != len(s.routes) {
		t.Errorf("the route table lists a route twice")
	}
}

// Every $ref in the document points at a component that exists.
func TestOpenAPI_Refs(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	components := doc["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				group, _ := components[parts[0]].(map[string]any)
				if len(parts) != 2 || group[parts[1]] == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	// Public routes say so.
	health := doc["paths"].(map[string]any)["/api/v1/health"].(map[string]any)["get"].(map[string]any)
	if sec, ok := health["security"].([]any); !ok || len(sec) != 0 {
		t.Errorf("health security = %v, want [] (no token)", health["security"])
	}
}

func TestOpenAPI_Served(t *testing.T) {
	h := newTestHub(t)
	r := h.do("GET", "/api/v1/openapi.json", nil).want(http.StatusOK)
	if r.Header.Get("Content-Type") != "application/json" || !slices.Equal(r.Body, openAPIDoc) {
		t.Errorf("served %d bytes as %q, want the embedded document", len(r.Body), r.Header.Get("Content-Type"))
	}
}
