// Package storetest is the contract suite of mih.Store: every store runs Run, and behaviour the
// suite does not test is not part of the interface. Bench measures the hot paths the same way on
// every store.
package storetest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// Run runs the contract suite. Every subtest calls open for a store of its own, empty and
// isolated from the others (a file in t.TempDir(), a schema per test), and runs in parallel.
// open should register the store's Close with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) mih.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"ServiceStore", serviceTests},
		{"RuleStore", ruleTests},
		{"TokenStore", tokenTests},
		{"MetaStore", metaTests},
		{"EventStore", eventTests},
		{"DeliveryStore", deliveryTests},
		{"Transitions", transitionTests},
		{"LogStore", logTests},
		{"CircuitStore", circuitTests},
		{"Outage", outageTests},
		{"SiteStore", siteTests},
		{"LeaseStore", leaseTests},
		{"SyncStore", syncTests},
		{"Reseal", resealTests},
		{"InboundStore", inboundTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, open(t))
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s mih.Store)
}

// NewBox returns a SecretBox (AES-256-GCM with a random key) for tests of stores.
func NewBox(tb testing.TB) mih.SecretBox {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		tb.Fatal(err)
	}
	return box{aead}
}

type box struct{ aead cipher.AEAD }

func (b box) Seal(plain []byte) ([]byte, error) { return b.aead.Seal(nil, nil, plain, nil), nil }

func (b box) Open(sealed []byte) ([]byte, error) { return b.aead.Open(nil, nil, sealed, nil) }

// Secrets that NewService puts in a service. Stores' own tests look for them in the raw database
// to prove they are not stored in clear.
const (
	SecretToken    = "tok-3b1f9c0e-secret-bearer"
	SecretPassword = "pw-8d2e7a41-secret-amqp"
	SecretSigning  = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng=="
	SecretHeader   = "hdr-51c0ffee-secret-header"
)

// NewService returns a valid REST service carrying SecretToken, SecretSigning and SecretHeader.
func NewService(name string) *mih.Service {
	s := mih.NewService()
	s.Name = name
	s.BaseURL = "https://api.example.com/v1"
	s.Auth = mih.Auth{Type: mih.AuthBearer, Token: SecretToken}
	s.Headers = map[string]string{"X-Tenant": "42", "X-Api-Key": SecretHeader}
	s.SigningSecret = SecretSigning
	return s
}

// NewAMQPService returns a valid AMQP service whose URL carries SecretPassword.
func NewAMQPService(name string) *mih.Service {
	s := mih.NewService()
	s.Name = name
	s.Type = mih.ServiceAMQP
	s.BaseURL = "amqp://hub:" + SecretPassword + "@broker.example.com:5672/%2F?exchange=moodle&routing_key=events"
	return s
}

func newEvent(id string, i int) *mih.Event {
	table := "user"
	obj := int64(100 + i)
	return &mih.Event{
		ID:                id,
		Site:              "main",
		EventName:         `\core\event\user_created`,
		Component:         "core",
		Action:            "created",
		Target:            "user",
		ObjectTable:       &table,
		ObjectID:          &obj,
		CRUD:              "c",
		ContextID:         1,
		ContextLevel:      10,
		ContextInstanceID: 0,
		UserID:            int64(i),
		CourseID:          int64(1 + i%3),
		Other:             json.RawMessage(`{"username":"user` + fmt.Sprint(i) + `"}`),
		TimeCreated:       1700000000 + int64(i),
		IP:                "10.0.0.1",
	}
}

func newDelivery(service string, next time.Time) *mih.Delivery {
	return &mih.Delivery{
		Service:        service,
		Method:         "POST",
		Endpoint:       "/users",
		Headers:        map[string]string{"Content-Type": "application/json"},
		Payload:        json.RawMessage(`{"user_id":1}`),
		IdempotencyKey: "gw:" + fmt.Sprint(next.UnixNano()),
		NextAttemptAt:  next,
	}
}

// base is a time in the recent past, so that "due" is easy to arrange around it; stores keep
// microseconds.
func base() time.Time { return time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond) }

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, want mih.Code) {
	t.Helper()
	if got := mih.ErrorCode(err); got != want {
		t.Fatalf("got error %v (code %q), want code %q", err, got, want)
	}
}

func wantUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, tm.Location())
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	wantUTC(t, what, got)
	if !got.Equal(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		ok(t, err)
		return v
	}
}

func ptr[T any](v T) *T { return &v }
