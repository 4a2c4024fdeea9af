package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// queueFilter is the queue's selection, read from the query (or, for bulk actions, the form).
type queueFilter struct {
	State   mih.DeliveryState
	Service string
	Rule    int64
	Event   string
}

func readQueueFilter(get func(string) string) (queueFilter, error) {
	f := queueFilter{
		State:   mih.DeliveryState(get("state")),
		Service: strings.TrimSpace(get("service")),
		Event:   strings.TrimSpace(get("event")),
	}
	if f.State != "" && !f.State.Valid() {
		return f, mih.Errorf(mih.CodeInvalid, "state %q: want pending, retrying, paused, dead or succeeded", f.State)
	}
	if r := strings.TrimSpace(get("rule")); r != "" {
		n, err := strconv.ParseInt(r, 10, 64)
		if err != nil || n <= 0 {
			return f, mih.Errorf(mih.CodeInvalid, "rule %q: want a rule id", r)
		}
		f.Rule = n
	}
	return f, nil
}

func (f queueFilter) store() mih.DeliveryFilter {
	return mih.DeliveryFilter{State: f.State, Service: f.Service, RuleID: f.Rule, EventID: f.Event}
}

// query writes the filter as a query string, state replaced by the given one.
func (f queueFilter) query(state mih.DeliveryState) string {
	q := url.Values{}
	if state != "" {
		q.Set("state", string(state))
	}
	if f.Service != "" {
		q.Set("service", f.Service)
	}
	if f.Rule != 0 {
		q.Set("rule", strconv.FormatInt(f.Rule, 10))
	}
	if f.Event != "" {
		q.Set("event", f.Event)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

type queueTab struct {
	Label   string
	Href    string
	Count   int
	Current bool
}

type queueRow struct {
	D        *mih.Delivery
	Failures int
	RuleName string
}

type queueData struct {
	Filter   queueFilter
	Tabs     []queueTab
	Rows     []queueRow
	Next     string
	Services []string
	Rules    []*mih.Rule
	// Bulk actions on the filtered set: replay applies to its dead deliveries only.
	ReplayHref string
	DeleteHref string
}

// queue shows the deliveries in one state (or all), newest first, filtered by service, rule and
// event, each with its failures and last error, and the bulk actions on the filtered set.
func (h *Handler) queue(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	f, err := readQueueFilter(q.Get)
	if err != nil {
		return err
	}
	sf := f.store()
	sf.Limit, sf.Cursor = pageSize, q.Get("cursor")
	ds, next, err := h.store.FindDeliveries(ctx, sf)
	if err != nil {
		return err
	}
	counts, err := h.store.CountDeliveries(ctx)
	if err != nil {
		return err
	}
	rules, err := h.store.FindRules(ctx, mih.RuleFilter{})
	if err != nil {
		return err
	}
	slices.SortFunc(rules, func(a, b *mih.Rule) int { return cmp.Compare(a.ID, b.ID) })
	ruleNames := map[int64]string{}
	for _, ru := range rules {
		ruleNames[ru.ID] = cmp.Or(ru.Name, ru.Event)
	}
	services, err := h.serviceNames(r)
	if err != nil {
		return err
	}
	d := queueData{Filter: f, Services: services, Rules: rules}
	// Tab counts follow the service filter; rule and event filters only narrow the rows.
	byState := map[mih.DeliveryState]int{}
	total := 0
	for _, c := range counts {
		if f.Service == "" || c.Service == f.Service {
			byState[c.State] += c.Count
			total += c.Count
		}
	}
	d.Tabs = append(d.Tabs, queueTab{Label: "All", Href: "/queue" + f.query(""), Count: total, Current: f.State == ""})
	for _, st := range mih.DeliveryStates() {
		label := capitalize(string(st))
		if st == mih.DeliveryDead {
			label = "Dead (DLQ)"
		}
		d.Tabs = append(d.Tabs, queueTab{Label: label, Href: "/queue" + f.query(st), Count: byState[st], Current: f.State == st})
	}
	for _, dl := range ds {
		failures := dl.Attempts
		if dl.State == mih.DeliverySucceeded && failures > 0 {
			failures--
		}
		d.Rows = append(d.Rows, queueRow{D: dl, Failures: failures, RuleName: ruleNames[dl.RuleID]})
	}
	d.Next = nextPage("/queue", q, next)
	if len(ds) > 0 {
		if f.State == "" || f.State == mih.DeliveryDead {
			d.ReplayHref = "/queue/replay" + f.query(f.State)
		}
		d.DeleteHref = "/queue/delete" + f.query(f.State)
	}
	return h.render(w, r, http.StatusOK, "queue", "Queue", "queue", d)
}

// Query is the filter as a query string, for links back to the same selection.
func (f queueFilter) Query() string { return f.query(f.State) }
