package web

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mihhub/mih"
)

// The admin password is kept in the store's meta table under MetaAdminPassword as
// "pbkdf2-sha256$<iterations>$<salt>$<hash>" (salt and hash in unpadded base64): PBKDF2 with
// HMAC-SHA-256 from the standard library, 600,000 iterations as OWASP advises for it, a 16-byte
// random salt. The iteration count is stored, so it can be raised later without invalidating
// existing passwords.

// MetaAdminPassword names the meta value that holds the admin password's hash.
const MetaAdminPassword = "admin_password"

const (
	passwordScheme     = "pbkdf2-sha256"
	passwordIterations = 600_000
	// MinPasswordLength is the shortest admin password accepted, in characters.
	MinPasswordLength = 12
	maxPasswordLength = 1024
)

// SetPassword hashes and stores the admin password and signs out every session, in every
// process: a new password ends the sign-ins made with the old one (or with the admin token).
func SetPassword(ctx context.Context, st mih.MetaStore, password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		return mih.Errorf(mih.CodeInvalid, "password: use at least %d characters (got %d)", MinPasswordLength, n)
	}
	if len(password) > maxPasswordLength {
		return mih.Errorf(mih.CodeInvalid, "password: at most %d bytes", maxPasswordLength)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	hash, err := pbkdf2.Key(sha256.New, password, salt, passwordIterations, 32)
	if err != nil {
		return fmt.Errorf("hash the password: %w", err)
	}
	enc := base64.RawStdEncoding
	v := strings.Join([]string{passwordScheme, strconv.Itoa(passwordIterations), enc.EncodeToString(salt), enc.EncodeToString(hash)}, "$")
	if err := st.SetMeta(ctx, MetaAdminPassword, v); err != nil {
		return fmt.Errorf("store the password: %w", err)
	}
	return revokeSessions(ctx, st)
}

// storedPassword reads the password hash; "" when no password is set.
func storedPassword(ctx context.Context, st mih.MetaStore) (string, error) {
	v, err := st.GetMeta(ctx, MetaAdminPassword)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the admin password: %w", err)
	}
	return v, nil
}

// checkPassword reports whether password matches the stored hash. A hash it cannot read is an
// error, never a match.
func checkPassword(stored, password string) (bool, error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != passwordScheme {
		return false, fmt.Errorf("the stored admin password has an unknown format; set it again with mih admin set-password")
	}
	iter, err := strconv.Atoi(parts[1])
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err != nil || err1 != nil || err2 != nil || iter < 1 || len(want) == 0 {
		return false, fmt.Errorf("the stored admin password is damaged; set it again with mih admin set-password")
	}
	if len(password) > maxPasswordLength {
		return false, nil
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	if err != nil {
		return false, fmt.Errorf("hash the password: %w", err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
