package secret

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBox_SealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("s3cret-token"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatalf("sealed data contains the plain text")
	}
	sealed2, _ := b.Seal([]byte("s3cret-token"))
	if bytes.Equal(sealed, sealed2) {
		t.Errorf("two seals of one text are equal: nonce not random")
	}
	got, err := b.Open(sealed)
	if err != nil || string(got) != "s3cret-token" {
		t.Fatalf("got %q, %v, want s3cret-token", got, err)
	}
	other, _ := NewBox(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("open with wrong key: got %v, want an error without the secret", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed); err == nil {
		t.Errorf("open of tampered data: got no error")
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"hex", strings.Repeat("ab", 32), true},
		{"base64", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", true},
		{"short", "abcd", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey(tc.in)
			if (err == nil) != tc.ok {
				t.Errorf("ParseKey(%q): got err %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, created, err := LoadOrCreateKey(path, "")
	if err != nil || !created {
		t.Fatalf("first call: got created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: got %v (%v), want 0600", st.Mode().Perm(), err)
	}
	k2, created, err := LoadOrCreateKey(path, "")
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second call: got created=%v err=%v same=%v", created, err, bytes.Equal(k1, k2))
	}
	env := strings.Repeat("cd", 32)
	k3, _, err := LoadOrCreateKey(path, env)
	if err != nil || bytes.Equal(k3, k1) {
		t.Fatalf("env key: got err=%v, want the env key used", err)
	}
	if _, _, err := LoadOrCreateKey(path, "nope"); err == nil {
		t.Fatalf("bad env key: got no error")
	}
}

func TestToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || !strings.HasPrefix(a, TokenPrefix) {
		t.Fatalf("tokens: got %q and %q", a, b)
	}
	if HashToken(a) == HashToken(b) || len(HashToken(a)) != 64 {
		t.Fatalf("hashes do not distinguish tokens")
	}
}

// TestBox_FormatsAndKeys: values sealed before key ids (format 1) still open; a value names the
// key that sealed it, so a box with the new key and the old one opens both while Current tells
// which need re-sealing.
func TestBox_FormatsAndKeys(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	s1, _ := newSealer(k1)
	v1 := s1.aead.Seal([]byte{version1}, nil, []byte("legacy"), nil)
	old, _ := NewBox(k1)
	sealedOld, _ := old.Seal([]byte("by k1"))
	both, err := NewBox(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{string(v1): "legacy", string(sealedOld): "by k1"} {
		if got, err := both.Open([]byte(in)); err != nil || string(got) != want {
			t.Errorf("open: got %q %v, want %q", got, err, want)
		}
	}
	sealedNew, _ := both.Seal([]byte("by k2"))
	if !both.Current(sealedNew) || both.Current(sealedOld) || both.Current(v1) {
		t.Error("Current does not tell the primary key's values from the others")
	}
	if _, err := old.Open(sealedNew); err == nil {
		t.Error("the old key alone opens a value sealed with the new one")
	}
	sealedNew[3] ^= 1 // the key id is authenticated
	if _, err := both.Open(sealedNew); err == nil {
		t.Error("a value whose key id was changed opens")
	}
}
