package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postRaw sends body as it is, with the admin token.
func postRaw(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe_EventIDsArePrintable: an id that no HTTP header can carry, or an overlong one, is a
// 400 naming the item, and nothing of the batch is stored.
func TestServe_EventIDsArePrintable(t *testing.T) {
	url, _ := startInProcess(t)
	for _, tc := range []struct{ name, id, want string }{
		{"crlf", "evil\r\nX-Injected: 1", "event 1: id: control or non-printable character '\\r'"},
		{"tab", "a\tb", "event 1: id: control or non-printable character '\\t'"},
		{"nul", "a\x00b", "event 1: id: control"},
		{"long", strings.Repeat("x", 256), "event 1: id: at most 255 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := testEvents("ids-"+tc.name, 2)
			evs[1]["id"] = tc.id
			code, body := apiCall(t, "POST", url+"api/v1/events", evs)
			if code != 400 || !strings.Contains(body2msg(body), tc.want) {
				t.Fatalf("got %d %s, want 400 with %q", code, body, tc.want)
			}
		})
	}
	code, body := apiCall(t, "GET", url+"api/v1/events", nil)
	if code != 200 || strings.Contains(string(body), "ids-") {
		t.Errorf("events after refused batches: %d %s, want none stored", code, body)
	}
	// Printable ids, spaces and non-ASCII letters included, are fine.
	evs := testEvents("ok", 1)
	evs[0]["id"] = "local_mih:42 é"
	if code, body := apiCall(t, "POST", url+"api/v1/events", evs); code != 202 {
		t.Fatalf("printable id: %d %s", code, body)
	}
}

func body2msg(b []byte) string {
	var e struct{ Error struct{ Message string } }
	json.Unmarshal(b, &e)
	return e.Error.Message
}

// TestServe_JSONNestingIsBounded: every JSON body of the API is refused past 64 levels of
// nesting with a 400 that says so, before anything decodes it.
func TestServe_JSONNestingIsBounded(t *testing.T) {
	url, _ := startInProcess(t)
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	ev := `{"id":"deep","eventname":"\\core\\event\\user_created","timecreated":1767000000,"other":` + deep(100) + `}`
	for _, tc := range []struct{ path, body string }{
		{"api/v1/events", ev},
		{"api/v1/services", `{"name":"s","type":"rest","base_url":"http://127.0.0.1:1","headers":{"x":` + deep(9000) + `}}`},
		{"api/v1/rules", `{"name":"r","event":"*","service":"s","template":` + deep(65) + `}`},
		{"api/v1/rules/preview", `{"template":"{}","event":{"other":` + deep(70) + `}}`},
		{"api/v1/sites", `{"name":"m","url":"http://127.0.0.1:1","x":` + deep(65) + `}`},
	} {
		code, body := postRaw(t, url+tc.path, []byte(tc.body))
		if code != 400 || !strings.Contains(body, "JSON nested more than 64 levels deep") {
			t.Errorf("POST %s: got %d %s, want 400 about nesting", tc.path, code, body)
		}
	}
	// 64 levels of other are fine.
	ok := `{"id":"ok64","eventname":"\\core\\event\\user_created","timecreated":1767000000,"other":` + deep(63) + `}`
	if code, body := postRaw(t, url+"api/v1/events", []byte(ok)); code != 202 {
		t.Errorf("64 levels: got %d %s, want 202", code, body)
	}
}

// TestServe_RunawayFiltersBounded: a filter that would stall ingest is refused when the rule is
// saved (400 naming the limit), and one that only runs away on a real event stops at its budget:
// ingest answers at once, and the rule does not match that event.
func TestServe_RunawayFiltersBounded(t *testing.T) {
	url, _ := startInProcess(t)
	if code, body := apiCall(t, "POST", url+"api/v1/services", map[string]any{"name": "s", "type": "rest", "base_url": "http://127.0.0.1:1"}); code != 201 {
		t.Fatalf("service: %d %s", code, body)
	}
	code, body := apiCall(t, "POST", url+"api/v1/rules", map[string]any{
		"name": "bomb", "event": "*", "service": "s", "template": `{}`, "filter": `len(repeat(repeat("ab",100000),10000)) > 0`,
	})
	if code != 400 || !strings.Contains(body2msg(body), "filter: refused") {
		t.Fatalf("runaway filter: got %d %s, want 400 refused", code, body)
	}
	if code, body := apiCall(t, "POST", url+"api/v1/rules", map[string]any{
		"name": "quadratic", "event": "*", "service": "s", "template": `{}`, "filter": `all(other.items ?? [], all(other.items, # >= 0))`,
	}); code != 201 {
		t.Fatalf("rule: %d %s", code, body)
	}
	items := make([]int, 5000)
	ev := testEvents("bounded", 1)[0]
	ev["other"] = map[string]any{"items": items}
	start := time.Now()
	code, body = apiCall(t, "POST", url+"api/v1/events", ev)
	if code != 202 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ingest took %s with a runaway filter", d)
	}
	_, body = apiCall(t, "GET", url+"api/v1/deliveries", nil)
	if strings.Contains(string(body), "bounded-0") {
		t.Errorf("the runaway filter matched: %s", body)
	}
}
