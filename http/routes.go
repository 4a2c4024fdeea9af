package http

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/mihhub/mih"
)

// route is one entry of the route table: a method, a ServeMux path pattern and its handler.
// Every route needs a bearer token unless Public is set. Signed also admits local_mih batches
// signed with a site's plugin_secret instead of a token (only POST /events may set it);
// MoodleToken also takes the token from X-Moodle-Token (the backend_sync routes). Class says
// which token scopes besides admin may call the route (mih.Token.Permits).
type route struct {
	Method      string
	Pattern     string
	Public      bool
	Signed      bool
	MoodleToken bool
	Class       mih.RouteClass
	Handler     http.Handler
}

// routeTable is the one list of the server's routes. openapi.json documents exactly these (a
// test checks both directions). New resources add a handler struct in a file of their own and
// their lines here.
func (s *Server) routeTable() []route {
	c := s.cfg
	health := &healthHandler{store: c.Store, version: c.Version, logger: s.logger}
	ready := &readyHandler{checks: c.Readiness, version: c.Version}
	events := &eventHandler{store: c.Store, ingester: c.Ingester}
	services := &serviceHandler{store: c.Store, ops: c.Ops}
	circuits := &circuitHandler{ops: c.Ops}
	gw := &gatewayHandler{store: c.Store, gateway: c.Gateway, ops: c.Ops, logger: s.logger}
	rules := &ruleHandler{store: c.Store, ops: c.Ops, now: c.Now}
	deliveries := &deliveryHandler{store: c.Store, ops: c.Ops, now: c.Now}
	logs := &logHandler{store: c.Store}
	stats := &statsHandler{store: c.Store, ops: c.Ops, now: c.Now}
	sites := &siteHandler{store: c.Store, ops: c.Ops}
	syncs := &syncHandler{store: c.Store, ops: c.Ops}
	compat := &backendSyncHandler{ingester: c.Ingester, now: c.Now}
	in := &inboundHandler{store: c.Store, ops: c.Ops, recv: c.Inbound, now: c.Now}

	const v1 = "/api/v1"
	return []route{
		{Method: "GET", Pattern: v1 + "/health", Public: true, Handler: s.api(health.get)},
		{Method: "GET", Pattern: v1 + "/ready", Public: true, Handler: s.api(ready.get)},
		// The document holds no secret, and the start-up banner links to it.
		{Method: "GET", Pattern: v1 + "/openapi.json", Public: true, Handler: s.api(serveOpenAPI)},

		{Method: "POST", Pattern: v1 + "/events", Signed: true, Class: mih.RouteIngest, Handler: s.api(events.create)},
		{Method: "GET", Pattern: v1 + "/events", Handler: s.api(events.list)},
		{Method: "POST", Pattern: v1 + "/events/moodle/{name}", MoodleToken: true, Class: mih.RouteIngest, Handler: s.api(compat.create)},

		{Method: "GET", Pattern: v1 + "/services", Handler: s.api(services.list)},
		{Method: "POST", Pattern: v1 + "/services", Handler: s.api(services.create)},
		{Method: "GET", Pattern: v1 + "/services/{name}", Handler: s.api(services.get)},
		{Method: "PUT", Pattern: v1 + "/services/{name}", Handler: s.api(services.update)},
		{Method: "DELETE", Pattern: v1 + "/services/{name}", Handler: s.api(services.delete)},
		{Method: "POST", Pattern: v1 + "/services/{name}/circuit/reset", Handler: s.api(circuits.reset)},
		{Method: "POST", Pattern: v1 + "/circuits/reset", Handler: s.api(circuits.resetAll)},

		{Method: "POST", Pattern: v1 + "/gateway/{service}", Class: mih.RouteGateway, Handler: s.api(gw.call)},

		{Method: "GET", Pattern: v1 + "/rules", Handler: s.api(rules.list)},
		{Method: "POST", Pattern: v1 + "/rules", Handler: s.api(rules.create)},
		{Method: "POST", Pattern: v1 + "/rules/preview", Handler: s.api(rules.preview)},
		{Method: "GET", Pattern: v1 + "/rules/{id}", Handler: s.api(rules.get)},
		{Method: "PUT", Pattern: v1 + "/rules/{id}", Handler: s.api(rules.update)},
		{Method: "DELETE", Pattern: v1 + "/rules/{id}", Handler: s.api(rules.delete)},

		{Method: "GET", Pattern: v1 + "/deliveries", Handler: s.api(deliveries.list)},
		{Method: "DELETE", Pattern: v1 + "/deliveries", Handler: s.api(deliveries.deleteMany)},
		{Method: "POST", Pattern: v1 + "/deliveries/replay", Handler: s.api(deliveries.replayMany)},
		{Method: "GET", Pattern: v1 + "/deliveries/{id}", Handler: s.api(deliveries.get)},
		{Method: "DELETE", Pattern: v1 + "/deliveries/{id}", Handler: s.api(deliveries.delete)},
		{Method: "POST", Pattern: v1 + "/deliveries/{id}/replay", Handler: s.api(deliveries.replay)},

		{Method: "GET", Pattern: v1 + "/sites", Handler: s.api(sites.list)},
		{Method: "POST", Pattern: v1 + "/sites", Handler: s.api(sites.create)},
		{Method: "GET", Pattern: v1 + "/sites/{name}", Handler: s.api(sites.get)},
		{Method: "PUT", Pattern: v1 + "/sites/{name}", Handler: s.api(sites.update)},
		{Method: "DELETE", Pattern: v1 + "/sites/{name}", Handler: s.api(sites.delete)},

		{Method: "POST", Pattern: v1 + "/inbound/{name}", Public: true, Handler: s.api(in.receive)},
		{Method: "GET", Pattern: v1 + "/inbound-endpoints", Handler: s.api(in.listEndpoints)},
		{Method: "POST", Pattern: v1 + "/inbound-endpoints", Handler: s.api(in.createEndpoint)},
		{Method: "GET", Pattern: v1 + "/inbound-endpoints/{name}", Handler: s.api(in.getEndpoint)},
		{Method: "PUT", Pattern: v1 + "/inbound-endpoints/{name}", Handler: s.api(in.updateEndpoint)},
		{Method: "DELETE", Pattern: v1 + "/inbound-endpoints/{name}", Handler: s.api(in.deleteEndpoint)},
		{Method: "GET", Pattern: v1 + "/inbound-rules", Handler: s.api(in.listRules)},
		{Method: "POST", Pattern: v1 + "/inbound-rules", Handler: s.api(in.createRule)},
		{Method: "POST", Pattern: v1 + "/inbound-rules/preview", Handler: s.api(in.preview)},
		{Method: "GET", Pattern: v1 + "/inbound-rules/{id}", Handler: s.api(in.getRule)},
		{Method: "PUT", Pattern: v1 + "/inbound-rules/{id}", Handler: s.api(in.updateRule)},
		{Method: "DELETE", Pattern: v1 + "/inbound-rules/{id}", Handler: s.api(in.deleteRule)},

		{Method: "GET", Pattern: v1 + "/sync", Handler: s.api(syncs.list)},
		{Method: "POST", Pattern: v1 + "/sync", Handler: s.api(syncs.create)},
		{Method: "GET", Pattern: v1 + "/sync/{job}", Handler: s.api(syncs.get)},
		{Method: "PUT", Pattern: v1 + "/sync/{job}", Handler: s.api(syncs.update)},
		{Method: "DELETE", Pattern: v1 + "/sync/{job}", Handler: s.api(syncs.delete)},
		{Method: "POST", Pattern: v1 + "/sync/{job}/plan", Handler: s.api(syncs.plan)},
		{Method: "POST", Pattern: v1 + "/sync/{job}/apply", Handler: s.api(syncs.apply)},
		{Method: "GET", Pattern: v1 + "/sync/{job}/{sub}", Handler: s.api(syncs.sub)},
		{Method: "GET", Pattern: v1 + "/sync/runs/{id}", Handler: s.api(syncs.run)},
		{Method: "GET", Pattern: v1 + "/sync/runs/{id}/missing.csv", Handler: s.api(syncs.missingCSV)},

		{Method: "GET", Pattern: v1 + "/logs", Handler: s.api(logs.list)},
		{Method: "GET", Pattern: v1 + "/stats", Handler: s.api(stats.get)},

		{Method: "GET", Pattern: "/metrics", Public: c.PublicMetrics,
			Handler: metricsHandler(c.Gatherer, s.logger)},
		{Method: "GET", Pattern: "/debug/pprof/{profile}", Class: mih.RouteAdminOnly, Handler: s.api(profileHandler)},
	}
}

// unmatched answers requests no route takes: 405 with Allow when the path exists under other
// methods, else 404, both as JSON errors.
type unmatched struct {
	mux    *http.ServeMux
	logger *slog.Logger
}

var probeMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func (u *unmatched) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := u.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, "GET") {
			allow = append(allow, "HEAD")
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, u.logger, mih.Errorf(codeMethodNotAllowed,
			"method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	writeError(w, r, u.logger, mih.Errorf(mih.CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
}
