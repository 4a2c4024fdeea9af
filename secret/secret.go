// Package secret encrypts service credentials at rest with AES-256-GCM and manages the hub's
// key and API tokens.
//
// The key lives in a file of its own (mode 0600) beside the data, or comes from MIH_SECRET_KEY,
// so that a copy of the database alone does not reveal any credential.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the AES-256 key length.
const KeySize = 32

// version prefixes sealed data so that the format can change later without guessing.
const version = byte(1)

// Box seals and opens secrets. It satisfies mih.SecretBox.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box for a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	// A random nonce per message: keys are long-lived and messages few, so the 2^32 message
	// bound of random 96-bit nonces is far away.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain.
func (b *Box) Seal(plain []byte) ([]byte, error) {
	out := make([]byte, 1, 1+b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	out[0] = version
	return b.aead.Seal(out, nil, plain, nil), nil
}

// Open decrypts what Seal produced. A wrong key is reported as such, never as garbage.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < 1 || sealed[0] != version {
		return nil, errors.New("open secret: unknown format")
	}
	plain, err := b.aead.Open(nil, nil, sealed[1:], nil)
	if err != nil {
		return nil, errors.New("open secret: wrong key or corrupted data")
	}
	return plain, nil
}

// ParseKey decodes a key given as 64 hex digits or as base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, errors.New("secret key: want 64 hex digits or the base64 of 32 bytes")
}

// LoadOrCreateKey returns the key from env when set, else from path, creating the file (0600)
// with a fresh random key when it does not exist. created reports whether a new key was made.
func LoadOrCreateKey(path, env string) (key []byte, created bool, err error) {
	if env != "" {
		k, err := ParseKey(env)
		if err != nil {
			return nil, false, fmt.Errorf("MIH_SECRET_KEY: %w", err)
		}
		return k, false, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read secret key: %w", err)
	}
	k := make([]byte, KeySize)
	rand.Read(k)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create secret key: %w", err)
	}
	// O_EXCL: two processes starting at once must not write two different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateKey(path, "")
	}
	if err != nil {
		return nil, false, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	return k, true, nil
}

// TokenPrefix marks mih API tokens so that secret scanners can recognise them.
const TokenPrefix = "mih_"

// NewToken returns a fresh API token.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is how tokens are stored and looked up: SHA-256 is enough because tokens are
// random 256-bit values, not passwords.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
