package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Secrets of the services in TestServe_SecretsNeverStoredOrShown, each distinctive enough that
// finding it anywhere is a leak.
const (
	leakBearer   = "bearer-SECRET-7f3a9c1e5b"
	leakPassword = "basic-SECRET-2d8e4f6a0c"
	leakHeader   = "header-SECRET-9b1c3e5d7f"
	leakAPIKey   = "apikey-SECRET-4a6c8e0b2d"
	leakURLPass  = "urlpass-SECRET-1e3c5a7b9d"
)

// TestServe_SecretsNeverStoredOrShown: a receiver that echoes the request's headers (as many
// test and debugging endpoints do) gets every service credential back to the hub. None of them
// may reach the delivery's attempts, last_error, the request log, a gateway answer, the server's
// log or any file of the data folder.
func TestServe_SecretsNeverStoredOrShown(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"error": "refused", "you_sent": r.Header, "url_user": r.URL.User.String()})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusBadRequest)
		w.Write(b)
	}))
	defer echo.Close()
	bin := buildBinary(t)
	data := t.TempDir()
	h := startHub(t, bin, "--data", data, "--log-level", "debug", "--poll-interval", "50ms")
	withPass := strings.Replace(echo.URL, "http://", "http://hub:"+leakURLPass+"@", 1)
	services := []map[string]any{
		{"name": "bearer", "auth": map[string]any{"type": "bearer", "token": leakBearer}},
		{"name": "basic", "auth": map[string]any{"type": "basic", "username": "hub", "password": leakPassword}},
		{"name": "header", "auth": map[string]any{"type": "header", "name": "X-Custom-Auth", "value": leakHeader}},
		{"name": "apikey", "auth": map[string]any{"type": "apikey", "token": leakAPIKey}},
		{"name": "urlpass", "base_url": withPass},
	}
	for _, s := range services {
		s["type"] = "rest"
		if s["base_url"] == nil {
			s["base_url"] = echo.URL
		}
		if code, body := apiCall(t, "POST", h.url+"api/v1/services", s); code != 201 {
			t.Fatalf("create service %s: %d %s", s["name"], code, body)
		}
		if code, body := apiCall(t, "POST", h.url+"api/v1/rules", map[string]any{
			"name": s["name"], "event": "*", "service": s["name"], "endpoint": "/in", "template": `{"id": "{{id}}"}`,
		}); code != 201 {
			t.Fatalf("create rule: %d %s", code, body)
		}
		// A synchronous gateway call answers what the service said.
		code, body := apiCall(t, "POST", h.url+"api/v1/gateway/"+s["name"].(string), map[string]any{"path": "/x", "payload": map[string]any{}})
		if code != 200 || !strings.Contains(string(body), "you_sent") {
			t.Fatalf("gateway %s: %d %s", s["name"], code, body)
		}
		checkNoLeak(t, "gateway answer of "+s["name"].(string), string(body))
	}
	if code, body := apiCall(t, "POST", h.url+"api/v1/events", testEvents("leak", 1)); code != 202 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	var list struct {
		Items []struct {
			ID int64 `json:"id"`
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(list.Items) < len(services) {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not die; logs:\n%s", tail(h.logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
		_, body := apiCall(t, "GET", h.url+"api/v1/deliveries?state=dead", nil)
		json.Unmarshal(body, &list)
	}
	for _, d := range list.Items {
		code, body := apiCall(t, "GET", h.url+"api/v1/deliveries/"+itoa64(d.ID), nil)
		if code != 200 || !strings.Contains(string(body), "you_sent") {
			t.Fatalf("delivery %d: %d %s", d.ID, code, body)
		}
		checkNoLeak(t, "delivery", string(body))
	}
	_, body := apiCall(t, "GET", h.url+"api/v1/logs", nil)
	checkNoLeak(t, "request log", string(body))
	_, body = apiCall(t, "GET", h.url+"api/v1/services", nil)
	checkNoLeak(t, "service list", string(body))
	checkNoLeak(t, "server log", h.logs.String())

	h.cmd.Process.Signal(os.Interrupt)
	<-h.done
	filepath.Walk(data, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checkNoLeak(t, "data folder file "+filepath.Base(path), string(b))
		return nil
	})
}

func checkNoLeak(t *testing.T, where, text string) {
	t.Helper()
	basic := "aHViOmJhc2ljLVNFQ1JFVC0yZDhlNGY2YTBj" // base64("hub:" + leakPassword)
	for _, s := range []string{leakBearer, leakPassword, leakHeader, leakAPIKey, leakURLPass, basic} {
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Errorf("%s holds the secret %q: …%s…", where, s, text[max(0, i-200):min(len(text), i+100)])
		}
	}
}
