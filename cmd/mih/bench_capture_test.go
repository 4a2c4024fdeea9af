package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The receiver tells the three captures apart by the event id the rule's template forwards.
func TestBenchCapture_ReceiverSortsCaptures(t *testing.T) {
	rec := &captureReceiver{got: map[string]time.Time{}}
	for _, body := range []string{
		`{"id": "logstore:41", "user": 7}`,
		`{"id": "local_mih:0b7c2a4e-8f3d-4a51-9d7e-2f6c1b0a9e13", "user": 7}`,
		`{"id": "01JEX3Q4Z6V2M8K0R5T7W9Y1B3", "user": 7}`,
		`{"id": "somewhere:else", "user": 8}`,
	} {
		w := httptest.NewRecorder()
		rec.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/in", strings.NewReader(body)))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d", body, w.Code)
		}
	}
	for via, user := range map[string]int64{"logstore": 7, "local_mih": 7, "http": 7} {
		if _, ok := rec.at(via, user); !ok {
			t.Errorf("no %s delivery recorded for user %d", via, user)
		}
	}
	if _, ok := rec.at("http", 8); !ok {
		t.Errorf("an id with an unknown prefix was not counted as HTTP")
	}
}

// A malformed secret is refused before anything is set up, and never quoted.
func TestBenchCapture_BadPluginSecret(t *testing.T) {
	err := runBenchCapture(context.Background(), []string{"--moodle-url", "http://127.0.0.1:1", "--moodle-token", "t",
		"--moodle-db", "postgres://u@127.0.0.1:1/moodle", "--plugin-secret", "not-a-secret"}, nil, io.Discard)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "plugin_secret") {
		t.Fatalf("err = %v, want a usage error about plugin_secret", err)
	}
	if strings.Contains(err.Error(), "not-a-secret") {
		t.Fatalf("the error quotes the secret: %v", err)
	}
}
