package web

import (
	"net/http"
)

// pageFunc is a page handler: it writes its answer, or returns an error that is rendered as the
// error page with the status of its code.
type pageFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the route table. Every route needs a signed-in session unless Public is
// set; every POST is checked against cross-origin requests and, when signed in, for the session's
// form token.
type route struct {
	Method  string
	Pattern string
	Public  bool
	Handler pageFunc
}

// routeTable is the one list of the UI's pages and actions. A new page adds a handler method in
// a file of its own and its lines here.
func (h *Handler) routeTable() []route {
	return []route{
		{Method: "GET", Pattern: "/login", Public: true, Handler: h.loginPage},
		{Method: "POST", Pattern: "/login", Public: true, Handler: h.login},
		{Method: "POST", Pattern: "/logout", Handler: h.logout},
		{Method: "POST", Pattern: "/logout/everywhere", Handler: h.logoutEverywhere},

		{Method: "GET", Pattern: "/{$}", Handler: h.dashboard},
		{Method: "GET", Pattern: "/dashboard/live", Handler: h.dashboardLive},

		{Method: "GET", Pattern: "/services", Handler: h.serviceList},
		{Method: "GET", Pattern: "/services/new", Handler: h.serviceNew},
		{Method: "POST", Pattern: "/services", Handler: h.serviceCreate},
		{Method: "GET", Pattern: "/services/{name}/edit", Handler: h.serviceEdit},
		{Method: "POST", Pattern: "/services/{name}/edit", Handler: h.serviceUpdate},
		{Method: "GET", Pattern: "/services/{name}/delete", Handler: h.serviceDeleteConfirm},
		{Method: "POST", Pattern: "/services/{name}/delete", Handler: h.serviceDelete},
		{Method: "POST", Pattern: "/services/{name}/enabled", Handler: h.serviceEnable},
		{Method: "POST", Pattern: "/services/{name}/test", Handler: h.serviceTest},
		{Method: "POST", Pattern: "/services/{name}/circuit/reset", Handler: h.circuitReset},
		{Method: "POST", Pattern: "/circuits/reset", Handler: h.circuitResetAll},

		{Method: "GET", Pattern: "/rules", Handler: h.ruleList},
		{Method: "GET", Pattern: "/rules/new", Handler: h.ruleNew},
		{Method: "POST", Pattern: "/rules", Handler: h.ruleCreate},
		{Method: "GET", Pattern: "/rules/{id}/edit", Handler: h.ruleEdit},
		{Method: "POST", Pattern: "/rules/{id}/edit", Handler: h.ruleUpdate},
		{Method: "GET", Pattern: "/rules/{id}/delete", Handler: h.ruleDeleteConfirm},
		{Method: "POST", Pattern: "/rules/{id}/delete", Handler: h.ruleDelete},
		{Method: "POST", Pattern: "/rules/{id}/active", Handler: h.ruleActivate},

		{Method: "GET", Pattern: "/queue", Handler: h.queue},
		{Method: "GET", Pattern: "/queue/{action}", Handler: h.queueBulkConfirm},
		{Method: "POST", Pattern: "/queue/{action}", Handler: h.queueBulk},
		{Method: "GET", Pattern: "/deliveries/{id}", Handler: h.delivery},
		{Method: "POST", Pattern: "/deliveries/{id}/replay", Handler: h.deliveryReplay},
		{Method: "POST", Pattern: "/deliveries/{id}/delete", Handler: h.deliveryDelete},

		{Method: "GET", Pattern: "/events", Handler: h.eventList},
		{Method: "GET", Pattern: "/logs", Handler: h.logList},
		{Method: "GET", Pattern: "/tokens", Handler: h.tokenList},
		{Method: "POST", Pattern: "/tokens", Handler: h.tokenCreate},
		{Method: "POST", Pattern: "/tokens/{id}/revoke", Handler: h.tokenRevoke},

		// Moodle sites. As with sync jobs, a site's pages are under /sites/{name}/…, so that
		// /sites/new cannot hide a site named "new".
		{Method: "GET", Pattern: "/sites", Handler: h.siteList},
		{Method: "GET", Pattern: "/sites/new", Handler: h.siteNew},
		{Method: "POST", Pattern: "/sites", Handler: h.siteCreate},
		{Method: "GET", Pattern: "/sites/{name}/edit", Handler: h.siteEdit},
		{Method: "POST", Pattern: "/sites/{name}/edit", Handler: h.siteUpdate},
		{Method: "GET", Pattern: "/sites/{name}/delete", Handler: h.siteDeleteConfirm},
		{Method: "POST", Pattern: "/sites/{name}/delete", Handler: h.siteDelete},
		{Method: "POST", Pattern: "/sites/{name}/test", Handler: h.siteTest},

		// Inbound endpoints and their rules, under /inbound/{name}/… as sites are.
		{Method: "GET", Pattern: "/inbound", Handler: h.inboundList},
		{Method: "GET", Pattern: "/inbound/new", Handler: h.inboundNew},
		{Method: "POST", Pattern: "/inbound", Handler: h.inboundCreate},
		{Method: "GET", Pattern: "/inbound/{name}/edit", Handler: h.inboundEdit},
		{Method: "POST", Pattern: "/inbound/{name}/edit", Handler: h.inboundUpdate},
		{Method: "POST", Pattern: "/inbound/{name}/delete", Handler: h.inboundDelete},
		{Method: "GET", Pattern: "/inbound/{name}/rules/new", Handler: h.inboundRuleNew},
		{Method: "POST", Pattern: "/inbound/{name}/rules", Handler: h.inboundRuleCreate},
		{Method: "GET", Pattern: "/inbound/{name}/rules/{id}/edit", Handler: h.inboundRuleEdit},
		{Method: "POST", Pattern: "/inbound/{name}/rules/{id}/edit", Handler: h.inboundRuleUpdate},
		{Method: "POST", Pattern: "/inbound/{name}/rules/{id}/delete", Handler: h.inboundRuleDelete},

		// Course sync. A job's pages are under /sync/{job}/…, never /sync/{job} alone, so that
		// /sync/new cannot hide a job named "new".
		{Method: "GET", Pattern: "/sync", Handler: h.syncList},
		{Method: "GET", Pattern: "/sync/new", Handler: h.syncNew},
		{Method: "POST", Pattern: "/sync", Handler: h.syncCreate},
		{Method: "GET", Pattern: "/sync/{job}/edit", Handler: h.syncEdit},
		{Method: "POST", Pattern: "/sync/{job}/edit", Handler: h.syncUpdate},
		{Method: "GET", Pattern: "/sync/{job}/delete", Handler: h.syncDeleteConfirm},
		{Method: "POST", Pattern: "/sync/{job}/delete", Handler: h.syncDelete},
		{Method: "POST", Pattern: "/sync/{job}/enabled", Handler: h.syncEnable},
		{Method: "POST", Pattern: "/sync/{job}/plan", Handler: h.syncPlan},
		{Method: "POST", Pattern: "/sync/{job}/apply", Handler: h.syncApply},
		{Method: "GET", Pattern: "/sync/{job}/runs", Handler: h.syncRuns},
		{Method: "GET", Pattern: "/sync/{job}/runs/{id}", Handler: h.syncRun},
		{Method: "GET", Pattern: "/sync/{job}/runs/{id}/live", Handler: h.syncRunLive},
		{Method: "GET", Pattern: "/sync/{job}/runs/{id}/missing.csv", Handler: h.syncMissingCSV},
	}
}

// routes builds the root handler from the route table.
func (h *Handler) routes() http.Handler {
	mux := http.NewServeMux()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, errCrossOrigin)
	}))
	for _, rt := range h.routeTable() {
		var hd http.Handler = h.page(rt.Handler)
		if rt.Method != "GET" {
			if !rt.Public {
				hd = h.requireFormToken(hd)
			}
			hd = h.limitForm(hd)
		}
		if !rt.Public {
			hd = h.requireSession(hd)
		}
		if rt.Method != "GET" {
			hd = cop.Handler(hd)
		}
		mux.Handle(rt.Method+" "+rt.Pattern, hd)
	}
	mux.Handle("GET /static/{hash}/{file}", h.static)
	// Whatever no route takes is the 404 page; it names nothing that exists, so it needs no
	// session.
	mux.Handle("/", h.page(func(w http.ResponseWriter, r *http.Request) error { return errPageNotFound }))
	return chain(mux, h.securityHeaders, h.recoverPanic)
}

// page adapts a pageFunc: a returned error becomes the error page.
func (h *Handler) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.renderError(w, r, err)
		}
	})
}
