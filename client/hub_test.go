package client_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/gateway"
	mihhttp "github.com/mihhub/mih/http"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/transport/rest"
)

// hub is a real hub in-process: the HTTP API on a loopback port over a SQLite store in a
// temporary folder, the real gateway over the real REST transport, the real ingester.
type hub struct {
	URL   string
	Token string
	Store mih.Store
	GW    *gateway.Gateway

	srv *httptest.Server
	tr  *rest.Transport
	dir string
}

// startHub starts a hub; guard, when not nil, stands where the circuit breaker goes.
func startHub(guard gateway.Guard) (*hub, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mih-client-")
	if err != nil {
		return nil, err
	}
	h := &hub{dir: dir, Token: "mih_example-token-0123456789"}
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		h.Close()
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "mih.db"), box, sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		h.Close()
		return nil, err
	}
	h.Store = st
	if err := st.CreateToken(ctx, &mih.Token{Name: "example", Hash: secret.HashToken(h.Token)}); err != nil {
		h.Close()
		return nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	rules := rule.NewSet(st, logger, time.Second)
	h.tr = rest.New(rest.Options{})
	h.GW = gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: h.tr}, gateway.Options{Guard: guard})
	h.srv = httptest.NewServer(mihhttp.NewServer(mihhttp.Config{
		Store:    st,
		Ingester: event.NewIngester(event.Config{Store: st, Rules: rules, Logger: logger}),
		Ops:      ops.New(ops.Config{Store: st, Rules: rules, Logger: logger}),
		Gateway:  h.GW,
		Logger:   logger,
	}).Handler())
	h.URL = h.srv.URL
	return h, nil
}

// AddService registers a REST service at url with fast retries; tweak adjusts it.
func (h *hub) AddService(name, url string, tweak ...func(*mih.Service)) error {
	s := mih.NewService()
	s.Name, s.BaseURL = name, url
	s.Auth = mih.Auth{Type: mih.AuthBearer, Token: "upstream-secret"}
	s.InitialBackoffS, s.MaxBackoffS = 0.01, 0.05
	s.TimeoutS = 2
	for _, t := range tweak {
		t(s)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("service %s: %w", name, err)
	}
	return h.Store.CreateService(context.Background(), s)
}

// Close stops the hub and removes its data.
func (h *hub) Close() {
	if h.srv != nil {
		h.srv.Close()
	}
	if h.tr != nil {
		h.tr.Close()
	}
	if h.Store != nil {
		h.Store.Close()
	}
	os.RemoveAll(h.dir)
}
