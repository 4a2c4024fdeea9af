package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

// TestCLI_SecretRotate: `mih secret rotate` re-seals every stored secret with a new key while a
// hub runs on the same data folder; the hub keeps reading and writing them; the old key opens
// nothing afterwards; a rotation interrupted after the new key is in place loses nothing and
// finishes when run again.
func TestCLI_SecretRotate(t *testing.T) {
	data := t.TempDir()
	url, st := startHubIn(t, data)
	env := []string{"MIH_DATA=" + data}
	const token, wsToken = "rotate-bearer-0123456789", "rotate-wstoken-0123456789"
	if code, body := apiCall(t, "POST", url+"api/v1/services", map[string]any{
		"name": "crm", "type": "rest", "base_url": "https://crm.example.com", "auth": map[string]any{"type": "bearer", "token": token},
	}); code != 201 {
		t.Fatalf("create service: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", url+"api/v1/sites", map[string]any{"name": "main", "url": "https://moodle.example.edu", "token": wsToken}); code != 201 {
		t.Fatalf("create site: %d %s", code, body)
	}
	oldKey, err := secret.PrimaryKey(data)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, env, "secret", "rotate")
	if code != exitOK || !strings.Contains(out, "2 secrets re-sealed") || !strings.Contains(out, "rotation is complete") {
		t.Fatalf("rotate: exit %d\n%s%s", code, out, errOut)
	}
	newKey, _ := secret.PrimaryKey(data)
	if string(newKey) == string(oldKey) {
		t.Fatal("the key did not change")
	}
	if _, err := os.Stat(filepath.Join(data, secret.OldKeyFile)); !os.IsNotExist(err) {
		t.Errorf("the previous key file is still there: %v", err)
	}
	// The running hub reads what was re-sealed, and writes with the new key.
	if s, err := st.FindServiceByName(t.Context(), "crm"); err != nil || s.Auth.Token != token {
		t.Fatalf("the running hub after the rotation: %v", err)
	}
	if code, body := apiCall(t, "PUT", url+"api/v1/services/crm", map[string]any{
		"type": "rest", "base_url": "https://crm.example.com/v2", "auth": map[string]any{"type": "bearer"},
	}); code != 200 {
		t.Fatalf("update after the rotation: %d %s", code, body)
	}
	// The old key opens nothing any more.
	oldBox, _ := secret.NewBox(oldKey)
	old, err := sqlite.Open(t.Context(), filepath.Join(data, "mih.db"), oldBox)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.FindServiceByName(t.Context(), "crm"); err == nil {
		t.Error("the previous key still opens the service's secrets")
	}
	if _, err := old.FindSiteByName(t.Context(), "main"); err == nil {
		t.Error("the previous key still opens the site's secrets")
	}
	old.Close()

	// Interrupted right after the new key was put in place: both keys are there, every secret
	// opens, and a second run finishes.
	if _, err := secret.BeginRotation(data); err != nil {
		t.Fatal(err)
	}
	box, _, err := secret.NewFileBox(data)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := sqlite.Open(t.Context(), filepath.Join(data, "mih.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := mid.FindSiteByName(t.Context(), "main"); err != nil || s.Token != wsToken {
		t.Fatalf("mid-rotation: %v", err)
	}
	mid.Close()
	code, out, errOut = runCLI(t, env, "secret", "rotate")
	if code != exitOK || !strings.Contains(out, "resuming") || !strings.Contains(out, "rotation is complete") {
		t.Fatalf("resumed rotate: exit %d\n%s%s", code, out, errOut)
	}
	for _, find := range []func() error{
		func() error { _, err := st.FindServiceByName(t.Context(), "crm"); return err },
		func() error { _, err := st.FindSiteByName(t.Context(), "main"); return err },
	} {
		if err := find(); err != nil {
			t.Errorf("after the resumed rotation: %v", err)
		}
	}
	if code, _, errOut := runCLI(t, append(env, "MIH_SECRET_KEY="+strings.Repeat("ab", 32)), "secret", "rotate"); code != exitUsage || !strings.Contains(errOut, "MIH_SECRET_KEY") {
		t.Errorf("rotate with the key in the environment: exit %d %s", code, errOut)
	}
}
