package moodledb

import (
	"strings"
	"testing"
)

// The sync reads a site's database URL as the log store tailer does: a password is never sent
// in clear to another machine, and never quoted in an error.
func TestOpen_PasswordInClear(t *testing.T) {
	for _, raw := range []string{
		"postgres://moodle:Secret-123@db.example.edu/moodle?sslmode=disable",
		"mysql://moodle:Secret-123@db.example.edu/moodle",
	} {
		_, err := Open(raw)
		if err == nil || !strings.Contains(err.Error(), "travel in clear") || strings.Contains(err.Error(), "Secret-123") {
			t.Errorf("%s: %v, want the password-in-clear refusal, without the password", raw, err)
		}
	}
	c, err := Open("postgres://moodle:Secret-123@127.0.0.1:5432/moodle?sslmode=disable")
	if err != nil || !c.Postgres || c.Password != "Secret-123" {
		t.Fatalf("loopback: %+v, %v", c, err)
	}
	c.DB.Close()
}
