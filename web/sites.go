package web

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// The Moodle sites pages (docs/web-ui.md, Moodle sites): the sites with their log store tailer, a
// form to add or edit one, "Test connection" through Web Services, and deletion after a
// confirmation. They do what /api/v1/sites does, on the same store calls and with the same rules
// for secrets: they are write-only, kept when a form leaves them empty, removed only when asked.
// Nothing is invalidated after a write: the tailers, enrichment and course sync follow the sites
// through the store's config version, which every site write bumps.

// siteRow is one site of the list.
type siteRow struct {
	Name, URL string
	// DB is the database URL with its password masked ("" when there is none).
	DB           string
	Token        bool
	PluginSecret bool
	Tail         tailView
	Jobs         []string
}

// tailView is a site's log store tailer as this process sees it.
type tailView struct {
	// On is the site's tail setting, with a database to tail.
	On bool
	// Known is false when the hub runs without tailers (Config.Tailers nil).
	Known bool
	// Here is set when the tailer's status is known: live from this process, or as the
	// process running it saved it in the store. Status is then its status, LastError passed
	// through the site's redactor.
	Here   bool
	Badge  badge
	Status struct {
		Cursor, MaxID, Lag, Events int64
		Gaps, Failures             int
		LastPoll, LastErrorAt      time.Time
		LastError, Process         string
	}
}

// tailOf reads the tailer of a site, when this process runs tailers.
func (h *Handler) tailOf(s *mih.Site) tailView {
	tv := tailView{On: s.Tail && s.DB != "", Known: h.ops.TailsKnown()}
	if !tv.On || !tv.Known {
		return tv
	}
	st := h.ops.TailStatus(s.Name)
	if st == nil {
		return tv
	}
	tv.Here = true
	switch {
	case st.Failures > 0:
		tv.Badge = badge{"bad", "✕", "failing"}
	case st.Running:
		tv.Badge = badge{"ok", "✓", "running"}
	default:
		tv.Badge = badge{"warn", "‖", "stopped"}
	}
	ts := &tv.Status
	ts.Cursor, ts.MaxID, ts.Lag, ts.Events = st.Cursor, st.MaxID, st.Lag, st.Events
	ts.Gaps, ts.Failures = st.Gaps, st.Failures
	ts.LastPoll, ts.LastErrorAt, ts.Process = st.LastPoll, st.LastErrorAt, st.Process
	// The tailer scrubs the password from its errors already; a driver that quotes the DSN
	// some other way is caught here.
	ts.LastError = siteSecrets(s).apply(st.LastError)
	return tv
}

// siteJobs maps each site to the names of the sync jobs that use it, sorted.
func (h *Handler) siteJobs(ctx context.Context) (map[string][]string, error) {
	jobs, err := h.store.FindSyncJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, j := range jobs {
		out[j.Site] = append(out[j.Site], j.Name)
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out, nil
}

// jobsPhrase names sync jobs in a sentence: "the sync job a", "the sync jobs a, b and c".
func jobsPhrase(names []string) string {
	switch len(names) {
	case 0:
		return "no sync job"
	case 1:
		return "the sync job " + names[0]
	}
	return "the sync jobs " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// siteList shows every site with what is set of it (never the secrets themselves), its tailer
// and the sync jobs that use it.
func (h *Handler) siteList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sites, err := h.store.FindSites(ctx)
	if err != nil {
		return err
	}
	jobs, err := h.siteJobs(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(sites, func(a, b *mih.Site) int { return cmp.Compare(a.Name, b.Name) })
	rows := make([]siteRow, len(sites))
	for i, s := range sites {
		rows[i] = siteRow{Name: s.Name, URL: s.URL, DB: showDB(s.DB), Token: s.Token != "", PluginSecret: s.PluginSecret != "",
			Tail: h.tailOf(s), Jobs: jobs[s.Name]}
	}
	return h.render(w, r, http.StatusOK, "sites", "Moodle sites", "sites", rows)
}
