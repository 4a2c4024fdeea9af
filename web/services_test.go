package web

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// Secrets the tests type into forms; no response may ever contain one of them.
const (
	secretToken   = "tok-3f9a1c77e2b5"
	secretHeader  = "hdr-8c2d55a01f9e"
	secretSigning = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng=="
	secretPass    = "pw-b71e0d3c9a42"
	secretAMQP    = "amqp-pw-5e6f7a8b9c"
)

var allSecrets = []string{secretToken, secretHeader, secretSigning, strings.TrimPrefix(secretSigning, "whsec_"), secretPass, secretAMQP}

// restForm is a complete REST service form as the page sends it.
func restForm(name, baseURL string) url.Values {
	return url.Values{
		"name": {name}, "type": {"rest"}, "base_url": {baseURL}, "enabled": {"true"},
		"auth.type": {"bearer"}, "auth.token": {secretToken},
		"headers":        {"X-Tenant: 42\nX-Api-Key: " + secretHeader + "\n"},
		"signing_secret": {secretSigning},
		"timeout_s":      {"5"}, "max_retries": {"3"}, "initial_backoff_s": {"1"}, "max_backoff_s": {"3600"}, "max_age_h": {"72"},
		"circuit.failure_threshold": {"5"}, "circuit.window_s": {"60"}, "circuit.cooldown_s": {"30"},
		// The AMQP builder's fields come along with every form; a REST service ignores them.
		"amqp.host": {""}, "amqp.port": {"5672"}, "amqp.vhost": {"/"},
	}
}

func TestService_CreateEditKeepsSecrets(t *testing.T) {
	u := newTestUI(t)
	u.login()
	r := u.post("/services", restForm("crm", "https://crm.example.com/api"))
	if r.status != http.StatusSeeOther || r.location != "/services/crm/edit" {
		t.Fatalf("create: got %d to %q\n%s", r.status, r.location, excerpt(r.body, 2000))
	}
	s, err := u.store.FindServiceByName(t.Context(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	if s.Auth.Token != secretToken || s.Headers["X-Api-Key"] != secretHeader || s.Headers["X-Tenant"] != "42" || s.SigningSecret != secretSigning {
		t.Fatalf("stored: %+v", s)
	}
	edit := u.follow("/services/crm/edit")
	must(t, edit, http.StatusOK, "Service crm added", "A value is stored and never shown", "X-Api-Key: ********", "X-Tenant: 42")

	// Saving the form as the page shows it (secrets empty, the header masked) keeps every secret.
	f := restForm("crm", "https://crm.example.com/v2")
	f.Set("auth.token", "")
	f.Set("signing_secret", "")
	f.Set("headers", "X-Tenant: 43\nX-Api-Key: ********")
	f.Set("max_retries", "7")
	if r := u.post("/services/crm/edit", f); r.status != http.StatusSeeOther {
		t.Fatalf("update: got %d\n%s", r.status, excerpt(r.body, 2000))
	}
	s, _ = u.store.FindServiceByName(t.Context(), "crm")
	if s.Auth.Token != secretToken || s.Headers["X-Api-Key"] != secretHeader || s.SigningSecret != secretSigning {
		t.Errorf("secrets after an update that left them empty: token %q header %q signing %q", s.Auth.Token, s.Headers["X-Api-Key"], s.SigningSecret)
	}
	if s.BaseURL != "https://crm.example.com/v2" || s.MaxRetries != 7 || s.Headers["X-Tenant"] != "43" {
		t.Errorf("other fields not saved: %+v", s)
	}

	// A new token replaces the old one; "remove" drops the signing secret.
	f.Set("auth.token", "tok-new-0123456789")
	f.Set("remove_signing_secret", "true")
	u.post("/services/crm/edit", f)
	s, _ = u.store.FindServiceByName(t.Context(), "crm")
	if s.Auth.Token != "tok-new-0123456789" || s.SigningSecret != "" {
		t.Errorf("after replacing: token %q signing %q", s.Auth.Token, s.SigningSecret)
	}

	// Basic auth: the password is kept the same way.
	f = restForm("crm", "https://crm.example.com/v2")
	f.Set("auth.type", "basic")
	f.Set("auth.username", "hub")
	f.Set("auth.password", secretPass)
	u.post("/services/crm/edit", f)
	f.Set("auth.password", "")
	u.post("/services/crm/edit", f)
	s, _ = u.store.FindServiceByName(t.Context(), "crm")
	if s.Auth.Type != mih.AuthBasic || s.Auth.Password != secretPass {
		t.Errorf("basic auth after an update without the password: %+v", s.Auth)
	}
	for _, p := range []string{"/", "/services", "/services/crm/edit", "/services/crm/delete", "/rules/new", "/dashboard/live"} {
		must(t, u.get(p), http.StatusOK)
	}
	u.noSecrets(allSecrets...)
	u.noSecrets(base64.StdEncoding.EncodeToString([]byte("hub:" + secretPass)))
}

func TestService_ValidationNextToTheField(t *testing.T) {
	u := newTestUI(t)
	u.login()
	tests := []struct {
		name   string
		change map[string]string
		field  string
		want   string
	}{
		{"bad name", map[string]string{"name": "Not A Slug"}, "f-name", "want a slug"},
		{"bad base url", map[string]string{"base_url": "crm.example.com"}, "f-base-url", "want an absolute URL"},
		{"not a number", map[string]string{"timeout_s": "soon"}, "f-timeout-s", "want a number of seconds"},
		{"out of range", map[string]string{"circuit.failure_threshold": "0"}, "f-circuit-failure-threshold", "at least 1"},
		{"token missing", map[string]string{"auth.token": ""}, "f-auth-token", "required for auth type bearer"},
		{"header line", map[string]string{"headers": "no colon here"}, "f-headers", "line 1: want Name: value"},
		{"signing secret", map[string]string{"signing_secret": "plain"}, "f-signing-secret", "starting with whsec_"},
		{"the mask itself", map[string]string{"auth.token": "********"}, "f-auth-token", "mask of a secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := restForm("crm", "https://crm.example.com")
			for k, v := range tc.change {
				f.Set(k, v)
			}
			r := u.post("/services", f)
			must(t, r, http.StatusBadRequest, `id="`+tc.field+`-error"`, tc.want, `id="`+tc.field+`"`, `aria-invalid="true"`)
			// What was typed stays in the form, secrets excepted.
			if tc.field != "f-name" && !strings.Contains(r.body, `value="https://crm.example.com"`) && tc.name != "bad base url" {
				t.Errorf("the typed base URL is lost")
			}
		})
	}
	if ss, _ := u.store.FindServices(t.Context()); len(ss) != 0 {
		t.Errorf("invalid forms stored %d services", len(ss))
	}
	u.post("/services", restForm("crm", "https://crm.example.com"))
	must(t, u.post("/services", restForm("crm", "https://crm.example.com")), http.StatusConflict, "exists already")
	u.noSecrets(allSecrets...)
}

func TestAMQPURL_RoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		parts amqpParts
		url   string
	}{
		{"the administrator guide's example", amqpParts{Host: "rabbit.example.com", Port: "5672", User: "hub", Password: "p@ss/w:rd", VHost: "/",
			Exchange: "moodle", RoutingKey: "events.moodle", Queue: "moodle_events", DLQ: "moodle_dlq"},
			"amqp://hub:p%40ss%2Fw%3Ard@rabbit.example.com:5672/%2F?exchange=moodle&routing_key=events.moodle&queue_declare=moodle_events&dlq=moodle_dlq"},
		{"tls, a named vhost, default exchange", amqpParts{TLS: true, Host: "10.0.0.5", Port: "5671", User: "u", Password: "p", VHost: "prod",
			RoutingKey: "a.b"}, "amqps://u:p@10.0.0.5:5671/prod?routing_key=a.b"},
		{"no credentials", amqpParts{Host: "localhost", Port: "5672", VHost: "/", Queue: "q"}, "amqp://localhost:5672/%2F?queue_declare=q"},
		{"ipv6", amqpParts{Host: "::1", Port: "5672", VHost: "a/b"}, "amqp://[::1]:5672/a%2Fb"},
		{"user without a password", amqpParts{Host: "h", Port: "5672", User: "guest", VHost: "/"}, "amqp://guest@h:5672/%2F"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parts.url()
			if err != nil || got != tc.url {
				t.Fatalf("url: got %q %v, want %q", got, err, tc.url)
			}
			back, err := splitAMQP(got)
			if err != nil || back != tc.parts {
				t.Fatalf("split: got %+v %v, want %+v", back, err, tc.parts)
			}
			s := mih.NewService()
			s.Name, s.Type, s.BaseURL = "broker", mih.ServiceAMQP, got
			if err := s.Validate(); err != nil {
				t.Errorf("the composed URL does not validate: %v", err)
			}
		})
	}
	// Defaults: the port by scheme, the vhost "/".
	if got, _ := (amqpParts{Host: "h"}).url(); got != "amqp://h:5672/%2F" {
		t.Errorf("defaults: got %q", got)
	}
	if got, _ := (amqpParts{Host: "h", TLS: true}).url(); got != "amqps://h:5671/%2F" {
		t.Errorf("tls defaults: got %q", got)
	}
	for _, bad := range []amqpParts{{}, {Host: "h", Port: "99999"}, {Host: "a/b"}, {Host: "h", Password: "p"}} {
		if _, err := bad.url(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
	if _, err := splitAMQP("amqp://h/%2F?exchange=x&prefetch=10"); err == nil || !strings.Contains(err.Error(), "prefetch") {
		t.Errorf("an unknown parameter: got %v", err)
	}
	if p, _ := splitAMQP("amqp://h"); p.VHost != "/" || p.Port != "5672" {
		t.Errorf("a URL without a path: %+v, want vhost / and port 5672", p)
	}
}

func amqpForm() url.Values {
	f := restForm("broker", "")
	f.Set("type", "amqp")
	f.Del("auth.token")
	f.Del("signing_secret")
	f.Del("headers")
	f.Set("amqp.host", "rabbit.example.com")
	f.Set("amqp.port", "5672")
	f.Set("amqp.user", "hub")
	f.Set("amqp.password", secretAMQP)
	f.Set("amqp.vhost", "/")
	f.Set("amqp.exchange", "moodle")
	f.Set("amqp.routing_key", "events.moodle")
	f.Set("amqp.queue_declare", "moodle_events")
	f.Set("amqp.dlq", "moodle_dlq")
	return f
}

func TestService_AMQPBuilder(t *testing.T) {
	u := newTestUI(t)
	u.login()
	if r := u.post("/services", amqpForm()); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 3000))
	}
	s, _ := u.store.FindServiceByName(t.Context(), "broker")
	want := "amqp://hub:" + secretAMQP + "@rabbit.example.com:5672/%2F?exchange=moodle&routing_key=events.moodle&queue_declare=moodle_events&dlq=moodle_dlq"
	if s.BaseURL != want || s.Auth.Type != mih.AuthNone {
		t.Fatalf("stored URL: got %q, want %q (auth %s)", s.BaseURL, want, s.Auth.Type)
	}
	// The edit form splits the URL back into the builder's fields, the password only as stored.
	edit := u.get("/services/broker/edit")
	must(t, edit, http.StatusOK, `value="rabbit.example.com"`, `value="hub"`, `value="moodle_events"`, `value="moodle_dlq"`,
		`value="events.moodle"`, `name="amqp.password" value="" autocomplete="new-password" placeholder="******** (stored)"`)
	// Saved without a password, the stored one stays; other fields change.
	f := amqpForm()
	f.Set("amqp.password", "")
	f.Set("amqp.routing_key", "events.v2")
	if r := u.post("/services/broker/edit", f); r.status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", r.status, excerpt(r.body, 3000))
	}
	s, _ = u.store.FindServiceByName(t.Context(), "broker")
	if s.BaseURL != strings.Replace(want, "events.moodle", "events.v2", 1) {
		t.Errorf("after the update: %q", s.BaseURL)
	}
	// The list shows the URL with the password masked.
	must(t, u.get("/services"), http.StatusOK, "amqp://hub:********@rabbit.example.com:5672/%2F")
	// A bad port is shown next to the builder's field.
	f.Set("amqp.port", "70000")
	must(t, u.post("/services/broker/edit", f), http.StatusBadRequest, `id="f-amqp-port-error"`)
	u.noSecrets(allSecrets...)
}

func TestService_DeleteNeedsConfirmation(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com"))
	u.createService(restService("erp", "https://erp.example.com"))
	ru := mih.NewRule()
	ru.Name, ru.Event, ru.Service = "users to crm", `\core\event\user_created`, "crm"
	if err := u.store.CreateRule(t.Context(), ru); err != nil {
		t.Fatal(err)
	}
	seedDeliveries(t, u.store, "crm", mih.DeliveryPending, mih.DeliveryPaused, mih.DeliveryDead)
	seedDeliveries(t, u.store, "erp", mih.DeliveryPending)

	must(t, u.get("/services/crm/delete"), http.StatusOK, "Delete service crm?", "users to crm",
		"<strong>2</strong> waiting deliveries", "1 dead delivery stays")
	// Without the confirmation field nothing happens.
	must(t, u.post("/services/crm/delete", nil), http.StatusConflict, "needs confirmation")
	if _, err := u.store.FindServiceByName(t.Context(), "crm"); err != nil {
		t.Fatalf("deleted without confirmation: %v", err)
	}
	r := u.post("/services/crm/delete", url.Values{"confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	must(t, u.follow("/services"), http.StatusOK, "Service crm deleted with 1 rule", "2 waiting deliveries moved to the dead-letter queue")
	if rules, _ := u.store.FindRules(t.Context(), mih.RuleFilter{Service: "crm"}); len(rules) != 0 {
		t.Errorf("rules left: %d", len(rules))
	}
	dead, _, _ := u.store.FindDeliveries(t.Context(), mih.DeliveryFilter{Service: "crm", State: mih.DeliveryDead})
	if len(dead) != 3 {
		t.Errorf("dead deliveries of crm: got %d, want 3 (2 moved, 1 already dead)", len(dead))
	}
	if erp, _, _ := u.store.FindDeliveries(t.Context(), mih.DeliveryFilter{Service: "erp", State: mih.DeliveryPending}); len(erp) != 1 {
		t.Errorf("erp's delivery was touched")
	}
}

// seedDeliveries stores one delivery of the service in each state, as gateway calls (no event).
func seedDeliveries(t *testing.T, st mih.Store, service string, states ...mih.DeliveryState) []*mih.Delivery {
	t.Helper()
	var ds []*mih.Delivery
	for _, s := range states {
		d := &mih.Delivery{Service: service, State: s, Method: "POST", Endpoint: "/in", Payload: []byte(`{"n":1}`),
			IdempotencyKey: "k-" + service + "-" + string(s) + "-" + time.Now().Format("150405.000000000"), NextAttemptAt: time.Now().Add(time.Hour)}
		if s == mih.DeliveryDead {
			d.Attempts, d.DeadReason, d.LastStatus, d.LastError = 1, mih.ReasonFailed, 400, "http_error: upstream answered 400"
		}
		ds = append(ds, d)
	}
	if err := st.CreateDeliveries(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestService_EnableAndCircuitReset(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com"))
	u.post("/services/crm/enabled", url.Values{"enabled": {"false"}})
	if s, _ := u.store.FindServiceByName(t.Context(), "crm"); s.Enabled {
		t.Fatal("still enabled")
	}
	before := u.notify.Load()
	u.post("/services/crm/enabled", url.Values{"enabled": {"true"}})
	if s, _ := u.store.FindServiceByName(t.Context(), "crm"); !s.Enabled || u.notify.Load() == before {
		t.Fatalf("enable: enabled %v, workers woken %v", s.Enabled, u.notify.Load() > before)
	}

	// An open circuit, as another process left it.
	ok, err := u.store.SwapCircuit(t.Context(), &mih.Circuit{Service: "crm", State: mih.CircuitOpen,
		OpenedAt: time.Now(), RetryAt: time.Now().Add(time.Hour)})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := u.circuits.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	must(t, u.get("/"), http.StatusOK, "OPEN", "Reset all circuits (1 not closed)")
	r := u.post("/services/crm/circuit/reset", url.Values{"back": {"/"}})
	if r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("reset: %d %q", r.status, r.location)
	}
	if st := u.circuits.State("crm"); st != mih.CircuitClosed {
		t.Fatalf("after reset: %s", st)
	}
	must(t, u.follow("/"), http.StatusOK, "Circuit of crm reset: it is CLOSED.")
	must(t, u.post("/services/nope/circuit/reset", nil), http.StatusNotFound)
	r = u.post("/circuits/reset", nil)
	must(t, u.follow(r.location), http.StatusOK, "0 circuits reset.")
}

func TestService_TestConnection(t *testing.T) {
	u := newTestUI(t)
	u.login()
	var status atomic.Int32
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/service.wsdl" {
			w.Header().Set("Content-Type", "text/xml")
			w.Write([]byte(`<?xml version="1.0"?><definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>`))
			return
		}
		// An echo service: it reflects the credentials it got, which the page must mask.
		w.WriteHeader(int(status.Load()))
		w.Write([]byte(`{"you sent": "` + r.Header.Get("Authorization") + `"}`))
	}))
	defer recv.Close()
	s := restService("crm", recv.URL+"/api")
	s.Auth = mih.Auth{Type: mih.AuthBearer, Token: secretToken}
	s.MaxRetries = 5
	u.createService(s)

	status.Store(http.StatusOK)
	r := u.post("/services/crm/test", nil)
	must(t, r, http.StatusOK, "Connected: GET "+recv.URL+"/api answered 200 OK", "Bearer ********")

	status.Store(http.StatusUnauthorized)
	must(t, u.post("/services/crm/test", nil), http.StatusOK, `class="notice warn"`, "answered 401 Unauthorized", "Check the authentication settings")

	// One call, no retries, even for a retryable status.
	status.Store(http.StatusServiceUnavailable)
	before := hits.Load()
	must(t, u.post("/services/crm/test", nil), http.StatusOK, "answered 503")
	if n := hits.Load() - before; n != 1 {
		t.Errorf("a test on a 503: %d calls, want 1 (no retries)", n)
	}

	// Nothing listens: not reached.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	u.createService(restService("gone", closed))
	must(t, u.post("/services/gone/test", nil), http.StatusOK, `class="notice bad"`, "Could not reach GET "+closed, "network")

	// SOAP: the WSDL fetch.
	soap := restService("legacy", recv.URL+"/service.wsdl")
	soap.Type = mih.ServiceSOAP
	u.createService(soap)
	must(t, u.post("/services/legacy/test", nil), http.StatusOK, "Connected: the WSDL at "+recv.URL+"/service.wsdl answered 200 OK")
	soap2 := restService("notwsdl", recv.URL+"/api")
	soap2.Type = mih.ServiceSOAP
	u.createService(soap2)
	status.Store(http.StatusOK)
	must(t, u.post("/services/notwsdl/test", nil), http.StatusOK, "does not look like a WSDL")

	// AMQP: a connection check; nothing listens here.
	amqp := mih.NewService()
	amqp.Name, amqp.Type = "broker", mih.ServiceAMQP
	amqp.BaseURL = "amqp://hub:" + secretAMQP + "@" + strings.TrimPrefix(closed, "http://") + "/%2F?exchange=moodle"
	u.createService(amqp)
	must(t, u.post("/services/broker/test", nil), http.StatusOK, `class="notice bad"`, "Could not connect to amqp://")
	u.noSecrets(allSecrets...)
}

// With a RabbitMQ server (MIH_TEST_AMQP_URL, started by scripts/test.sh), the check logs in,
// and tells a missing exchange from a queue the hub will declare.
func TestService_TestConnectionAMQP(t *testing.T) {
	raw := os.Getenv("MIH_TEST_AMQP_URL")
	if raw == "" {
		t.Skip("MIH_TEST_AMQP_URL is not set (scripts/test.sh starts RabbitMQ)")
	}
	u := newTestUI(t)
	u.login()
	base, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, query string) {
		s := mih.NewService()
		s.Name, s.Type = name, mih.ServiceAMQP
		b := *base
		b.Path, b.RawPath, b.RawQuery = "/", "/%2F", query
		s.BaseURL = b.String()
		u.createService(s)
	}
	mk("ok", "routing_key=k&queue_declare=mih_web_check_"+time.Now().Format("150405"))
	must(t, u.post("/services/ok/test", nil), http.StatusOK, `class="notice ok"`, "Connected to amqp", "does not exist yet")
	mk("noexchange", "exchange=mih-no-such-exchange&routing_key=k")
	must(t, u.post("/services/noexchange/test", nil), http.StatusOK, `class="notice bad"`, "does not exist")
	b := *base
	b.User = url.UserPassword("nobody", "wrong")
	s := mih.NewService()
	s.Name, s.Type, s.BaseURL = "badpw", mih.ServiceAMQP, b.String()
	u.createService(s)
	must(t, u.post("/services/badpw/test", nil), http.StatusOK, `class="notice bad"`, "refused")
}
