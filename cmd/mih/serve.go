package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/coursesync"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/enrich"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/gateway"
	mihhttp "github.com/mihhub/mih/http"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/inbound/amqpsource"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/postgres"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/tailer"
	"github.com/mihhub/mih/transport/amqp"
	"github.com/mihhub/mih/transport/moodlews"
	"github.com/mihhub/mih/transport/rest"
	"github.com/mihhub/mih/transport/soap"
)

func runServe(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	tuneGC(environ)
	logger := newLogger(cfg, stderr)
	// `mih restore` refuses a data folder a hub is running on.
	unlock, err := lockData(cfg.Data, false)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	token, err := firstStartToken(ctx, st, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "mih %s listening on %s\n", Version, url)
	fmt.Fprintf(stdout, "admin:     %s\n", url)
	fmt.Fprintf(stdout, "API:       %sapi/v1/  (docs: %sapi/v1/openapi.json)\n", url, url)
	if token != "" {
		fmt.Fprintf(stdout, "admin API token (shown once, store it now): %s\n", token)
	}
	return serve(ctx, cfg, st, ln, logger)
}

// serve runs the hub on an open store and listener until ctx is done, then shuts down in the
// order that loses nothing: stop taking requests (in-flight ingests finish and commit), then stop
// the workers (in-flight deliveries finish or are released), then close the store.
//
// The hub is built from named parts, each from the parts before it, so that nothing is used
// before it exists: the gateway (transports, the wake-up of the workers, the delivery ledger, the
// circuit breaker), the workers (delivery, maintenance, ingest, tailers, course sync), the
// operations layer, and the HTTP front ends.
func serve(ctx context.Context, cfg *Config, st mih.Store, ln net.Listener, logger *slog.Logger) error {
	h := newHub(cfg, st, logger)
	defer h.close()
	tracing, err := newTracing(ctx, cfg, h.owner, logger)
	if err != nil {
		return err
	}
	h.tracing = tracing
	// Spans still buffered go out after everything else has stopped.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.shutdown(sctx); err != nil {
			logger.Warn("tracing: flush spans", "err", err)
		}
	}()
	if err := h.buildGateway(ctx); err != nil {
		return err
	}
	if err := h.buildWorkers(); err != nil {
		return err
	}
	h.buildOps()
	h.ready = newReadiness(st, h.tailers, func() bool { return ctx.Err() != nil })
	if err := h.buildHTTP(); err != nil {
		return err
	}
	return h.run(ctx, ln)
}

// hub is what serve builds, part by part.
type hub struct {
	cfg     *Config
	st      mih.Store
	logger  *slog.Logger
	reg     *prometheus.Registry
	owner   string
	closers []io.Closer

	// gateway
	transports map[mih.ServiceType]mih.Transport
	wakeup     *delivery.Wakeup
	handoff    *delivery.Handoff
	ledger     *ops.Ledger
	circuits   *breaker.Breaker
	gateway    *gateway.Gateway

	// workers
	rules      *rule.Set
	sites      *enrich.SiteLookups
	worker     *delivery.Worker
	maintainer *delivery.Maintainer
	ingester   *event.Ingester
	tailers    *tailer.Supervisor
	sync       *coursesync.Scheduler
	inbound    *inbound.Receiver
	consumers  *amqpsource.Consumers

	ops     *ops.Ops
	tracing *hubTracing
	ready   *readiness
	handler http.Handler
}

func newHub(cfg *Config, st mih.Store, logger *slog.Logger) *hub {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	host, _ := os.Hostname()
	return &hub{cfg: cfg, st: st, logger: logger, reg: reg,
		owner: fmt.Sprintf("%s:%d:%d", host, os.Getpid(), time.Now().UnixNano())}
}

// close closes the transports.
func (h *hub) close() {
	for _, c := range h.closers {
		c.Close()
	}
}

// buildGateway makes the transports, the workers' wake-up, the delivery ledger that signals it,
// the circuit breaker that asks the ledger to pause and resume, and the gateway every call goes
// through. The wake-up exists before the breaker: its first Sync may resume a probe of a circuit
// that opened before this start, and that signal waits for the worker.
func (h *hub) buildGateway(ctx context.Context) error {
	restTransport := rest.New(rest.Options{Version: Version})
	soapTransport := soap.New(soap.Options{Version: Version, Logger: h.logger})
	amqpTransport := amqp.New(amqp.Options{Logger: h.logger})
	h.closers = append(h.closers, restTransport, soapTransport, amqpTransport)
	h.transports = map[mih.ServiceType]mih.Transport{
		mih.ServiceREST: restTransport,
		mih.ServiceSOAP: soapTransport,
		mih.ServiceAMQP: amqpTransport,
		// Inbound rules call the sites' Web Services through the same gateway and ledger.
		mih.ServiceMoodle: moodlews.New(moodlews.Options{Logger: h.logger, UserAgent: "mih/" + Version}),
	}
	h.wakeup = delivery.NewWakeup()
	h.handoff = delivery.NewHandoff()
	h.ledger = ops.NewLedger(h.st, h.wakeup, nil)
	h.circuits = breaker.New(h.st, breaker.Options{
		Owner:        h.owner,
		SyncInterval: h.cfg.CircuitSync,
		Ledger:       h.ledger,
		Logger:       h.logger,
	})
	if err := h.circuits.Sync(ctx); err != nil {
		return fmt.Errorf("load circuits: %w", err)
	}
	h.reg.MustRegister(h.circuits.Collector())
	h.gateway = gateway.New(h.transports, gateway.Options{Guard: h.circuits, Logger: h.logger})
	return nil
}

// buildWorkers makes what runs beside the HTTP server: the delivery worker with its enrichment,
// the maintainer, ingest, the log store tailers and the course sync scheduler.
func (h *hub) buildWorkers() error {
	cfg, st, logger := h.cfg, h.st, h.logger
	deliveryMetrics, err := delivery.NewMetrics(h.reg, st)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	h.rules = rule.NewSet(st, logger, time.Second)
	// Enrichment looks users and courses up through each site's Web Services, with a bounded
	// cache per site, rebuilt when the site changes (a new token takes effect at once).
	h.sites = enrich.NewSiteLookups(st, func(site *mih.Site) (enrich.Lookup, error) {
		c, err := moodle.New(site.URL, site.Token, moodle.Options{Logger: logger, UserAgent: "mih/" + Version})
		if err != nil {
			return nil, err
		}
		return moodle.NewDirectory(c, moodle.DirectoryOptions{}), nil
	})
	// The worker resolves moodle:<site>, the service name of inbound calls, to the site.
	h.worker = delivery.New(st, &inbound.Services{Services: st, Sites: st}, h.tracing.caller(h.gateway), delivery.Config{
		Owner:           h.owner,
		Concurrency:     cfg.WorkerConcurrency,
		BatchSize:       cfg.WorkerBatch,
		Lease:           cfg.Lease,
		PollInterval:    cfg.PollInterval,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          logger,
		Metrics:         deliveryMetrics,
		Renderer:        enrich.New(st, h.sites),
		Wakeup:          h.wakeup,
		Handoff:         h.handoff,
		Health:          h.circuits,
	})
	circuits := h.circuits
	h.maintainer = delivery.NewMaintainer(st, delivery.MaintainerConfig{
		Interval:         cfg.MaintainEvery,
		LogMaxAge:        cfg.LogMaxAge,
		LogMaxRows:       cfg.LogMaxRows,
		SucceededMaxAge:  cfg.SucceededMaxAge,
		SucceededMaxRows: cfg.SucceededMaxRows,
		EventMaxAge:      cfg.EventMaxAge,
		Ledger:           h.ledger,
		// Paused deliveries of an open circuit are the breaker's to resume, after its probe.
		CircuitOpen: func(s *mih.Service) bool { return circuits.State(s.Name) != mih.CircuitClosed },
		Logger:      logger,
	})
	h.ingester = event.NewIngester(event.Config{
		Store:   st,
		Rules:   h.rules,
		Logger:  logger,
		Wake:    h.wakeup,
		Handoff: h.handoff,
		Metrics: event.NewMetrics(h.reg),
		Tracer:  h.tracing.tracer,
	})
	h.tailers = tailer.NewSupervisor(st, h.ingester, tailer.SupervisorConfig{Owner: h.owner, Logger: logger})
	// Inbound messages over HTTP and from broker queues; a queue message is acked once stored.
	h.inbound = inbound.NewReceiver(st, h.ledger.Notify, nil)
	h.consumers = &amqpsource.Consumers{Store: st, Receiver: h.inbound, Logger: logger, Interval: 5 * time.Second}
	// Course sync: the scheduler runs the due jobs and the runs the API queues, each under its
	// job's lease. Sources go through the circuit breaker like every call, on a REST transport
	// that reads a source whole (up to coursesync.DefaultMaxSourceBytes).
	syncTransport := rest.New(rest.Options{Version: Version, MaxResponseBody: coursesync.DefaultMaxSourceBytes + 1})
	h.closers = append(h.closers, syncTransport)
	syncGateway := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: syncTransport}, gateway.Options{Guard: h.circuits, Logger: logger})
	h.sync = coursesync.NewScheduler(coursesync.New(coursesync.Config{Store: st, Gateway: syncGateway, Runner: h.owner, Logger: logger, Database: openMoodleDB}),
		coursesync.SchedulerOptions{Interval: cfg.PollInterval, Logger: logger})
	return nil
}

// buildOps makes the operations layer both front ends change the hub through.
func (h *hub) buildOps() {
	tailers := h.tailers
	h.ops = ops.New(ops.Config{
		Store:      h.st,
		Ledger:     h.ledger,
		Rules:      h.rules,
		Sites:      h.sites,
		Maintainer: h.maintainer,
		Circuits:   h.circuits,
		Gateway:    h.gateway,
		Transports: h.transports,
		Tails:      tailers.Status,
		Logger:     h.logger,
	})
}

// buildHTTP makes the JSON API and the web UI beside it.
func (h *hub) buildHTTP() error {
	cfg := h.cfg
	api := mihhttp.NewServer(mihhttp.Config{
		Store:         h.st,
		Ops:           h.ops,
		Ingester:      h.ingester,
		Inbound:       h.inbound,
		Gateway:       h.gateway,
		Gatherer:      h.reg,
		Logger:        h.logger,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		PublicMetrics: cfg.PublicMetrics,
		Version:       Version,
		Readiness:     h.ready.checks,
	})
	handler, err := withWebUI(cfg, api.Handler(), h.ops, h.logger)
	if err != nil {
		return err
	}
	h.handler = handler
	return nil
}

// run serves ln and runs the workers until ctx is done or a part fails, then shuts down.
func (h *hub) run(ctx context.Context, ln net.Listener) error {
	cfg, logger := h.cfg, h.logger
	srv := &http.Server{
		Handler:           h.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	workerDone := make(chan error, 1)
	go func() { workerDone <- h.ready.track("delivery_worker", h.worker.Run)(workCtx) }()
	// The maintainer, the breaker, the tailers (which feed ingest), the inbound queue consumers
	// and the sync scheduler stop with the workers, after the HTTP server. Readiness says whether
	// each is running.
	var others sync.WaitGroup
	for _, part := range []struct {
		name string
		run  func(context.Context) error
	}{{"maintainer", h.maintainer.Run}, {"circuits", h.circuits.Run}, {"tailers", h.tailers.Run},
		{"inbound_consumers", h.consumers.Run}, {"sync_scheduler", h.sync.Run}} {
		run := h.ready.track(part.name, part.run)
		others.Go(func() { run(workCtx) })
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()
	logger.Info("hub started", "listen", ln.Addr().String(), "store", storeName(cfg), "owner", h.owner)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-srvDone:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-workerDone:
		runErr = fmt.Errorf("delivery worker stopped: %w", err)
		workerDone <- err
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "err", err)
	}
	stopWork()
	if err := <-workerDone; err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("delivery worker", "err", err)
	}
	others.Wait()
	logger.Info("stopped")
	return runErr
}

// secretKey is the hub's secret key: MIH_SECRET_KEY, or secret.key in the data folder, created
// on first use. It seals secrets at rest and keys the web UI's sessions.
func secretKey(cfg *Config) (key []byte, created bool, err error) {
	return secret.LoadOrCreateKey(filepath.Join(cfg.Data, secret.KeyFile), cfg.SecretKey)
}

// secretBox is the box of the stores' secrets: over the data folder's key files, which it
// rereads when `mih secret rotate` changes them, or over MIH_SECRET_KEY.
func secretBox(cfg *Config) (*secret.Box, bool, error) {
	if cfg.SecretKey == "" {
		return secret.NewFileBox(cfg.Data)
	}
	key, _, err := secretKey(cfg)
	if err != nil {
		return nil, false, err
	}
	box, err := secret.NewBox(key)
	return box, false, err
}

// openStore opens the configured store, creating the data folder, the secret key and the schema
// on first use.
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (mih.Store, error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	box, created, err := secretBox(cfg)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Info("created secret key for credentials at rest", "file", filepath.Join(cfg.Data, secret.KeyFile))
	}
	if cfg.Database != "" {
		st, err := postgres.Open(ctx, cfg.Database, box)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "mih.db"), box, sqlite.WithSynchronous(cmp.Or(cfg.SQLiteSynchronous, "full")))
	if err != nil {
		return nil, fmt.Errorf("open SQLite database: %w", err)
	}
	return st, nil
}

const metaAdminToken = "admin_token_created"

// firstStartToken creates the admin API token on first start: MIH_ADMIN_TOKEN when given (for
// automation, then it is not printed), else a random one that is returned to be printed once.
func firstStartToken(ctx context.Context, st mih.Store, cfg *Config) (string, error) {
	if _, err := st.GetMeta(ctx, metaAdminToken); err == nil {
		return "", nil
	} else if mih.ErrorCode(err) != mih.CodeNotFound {
		return "", fmt.Errorf("check first start: %w", err)
	}
	tok, show := cfg.AdminToken, false
	if tok == "" {
		tok, show = secret.NewToken(), true
	}
	if err := st.CreateToken(ctx, &mih.Token{Name: "admin", Scope: mih.ScopeAdmin, Hash: secret.HashToken(tok)}); err != nil {
		return "", fmt.Errorf("create admin token: %w", err)
	}
	if err := st.SetMeta(ctx, metaAdminToken, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return "", fmt.Errorf("record admin token: %w", err)
	}
	if !show {
		return "", nil
	}
	return tok, nil
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func storeName(cfg *Config) string {
	if cfg.Database != "" {
		return "postgres"
	}
	return "sqlite:" + strings.TrimSuffix(cfg.Data, "/") + "/mih.db"
}
