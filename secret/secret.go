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
	"sync"
)

// KeySize is the AES-256 key length.
const KeySize = 32

// Formats of sealed data, its first byte. Version 1 (no key id) is what the hub wrote before key
// rotation; it is still read, with each key tried in turn.
const (
	version1 = byte(1)
	// version2 is followed by the id of the key that sealed it (KeyIDSize bytes), which is also
	// authenticated as additional data, then the nonce and the ciphertext.
	version2 = byte(2)
)

// KeyIDSize is the length of a key id: the first bytes of the key's SHA-256. It names the key
// that sealed a value, so that a value can be opened whatever key is primary during a rotation.
const KeyIDSize = 8

type keyID [KeyIDSize]byte

func idOf(key []byte) keyID {
	sum := sha256.Sum256(append([]byte("mih secret key id\x00"), key...))
	var id keyID
	copy(id[:], sum[:])
	return id
}

type sealer struct {
	id   keyID
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
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
	return &sealer{id: idOf(key), aead: aead}, nil
}

// Box seals and opens secrets. It satisfies mih.SecretBox. It seals with its primary key and
// opens with any of its keys; a Box over a data folder's key files (NewFileBox) rereads them when
// they change, so that a running hub follows a key rotation made by `mih secret rotate`.
type Box struct {
	mu      sync.RWMutex
	primary *sealer
	keys    map[keyID]*sealer
	// dir is the data folder of a file box, "" for a box of fixed keys; stamp is what the key
	// files looked like when they were last read.
	dir   string
	stamp string
}

// NewBox returns a Box that seals with key and opens with key or any of older.
func NewBox(key []byte, older ...[]byte) (*Box, error) {
	b := &Box{}
	if err := b.set(key, older); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Box) set(key []byte, older [][]byte) error {
	p, err := newSealer(key)
	if err != nil {
		return err
	}
	keys := map[keyID]*sealer{p.id: p}
	for _, k := range older {
		o, err := newSealer(k)
		if err != nil {
			return err
		}
		keys[o.id] = o
	}
	b.mu.Lock()
	b.primary, b.keys = p, keys
	b.mu.Unlock()
	return nil
}

// Seal encrypts plain with the primary key.
func (b *Box) Seal(plain []byte) ([]byte, error) {
	b.refresh(false)
	b.mu.RLock()
	p := b.primary
	b.mu.RUnlock()
	out := make([]byte, 1+KeyIDSize, 1+KeyIDSize+p.aead.NonceSize()+len(plain)+p.aead.Overhead())
	out[0] = version2
	copy(out[1:], p.id[:])
	return p.aead.Seal(out, nil, plain, p.id[:]), nil
}

// Open decrypts what Seal produced, with the key that sealed it. A wrong key is reported as
// such, never as garbage.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	plain, err := b.open(sealed)
	if errors.Is(err, errUnknownKey) && b.refresh(true) {
		plain, err = b.open(sealed)
	}
	return plain, err
}

var errUnknownKey = errors.New("open secret: sealed with a key this hub does not have (wrong key, or a rotation whose old key file was removed too early)")

func (b *Box) open(sealed []byte) ([]byte, error) {
	b.mu.RLock()
	keys := b.keys
	b.mu.RUnlock()
	switch {
	case len(sealed) >= 1+KeyIDSize && sealed[0] == version2:
		var id keyID
		copy(id[:], sealed[1:])
		k := keys[id]
		if k == nil {
			return nil, errUnknownKey
		}
		plain, err := k.aead.Open(nil, nil, sealed[1+KeyIDSize:], id[:])
		if err != nil {
			return nil, errors.New("open secret: corrupted data")
		}
		return plain, nil
	case len(sealed) >= 1 && sealed[0] == version1:
		for _, k := range keys {
			if plain, err := k.aead.Open(nil, nil, sealed[1:], nil); err == nil {
				return plain, nil
			}
		}
		return nil, errors.New("open secret: wrong key or corrupted data")
	}
	return nil, errors.New("open secret: unknown format")
}

// Current reports whether sealed is sealed with the primary key in the current format: what a
// rotation leaves alone.
func (b *Box) Current(sealed []byte) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(sealed) >= 1+KeyIDSize && sealed[0] == version2 && keyID(sealed[1:1+KeyIDSize]) == b.primary.id
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
