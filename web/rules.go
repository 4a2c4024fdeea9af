package web

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
)

type ruleListData struct {
	Rules    []*mih.Rule
	Services []string
	Service  string
}

// ruleList shows the rules, newest first, optionally of one service.
func (h *Handler) ruleList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	service := r.URL.Query().Get("service")
	rules, err := h.store.FindRules(ctx, mih.RuleFilter{Service: service})
	if err != nil {
		return err
	}
	slices.SortFunc(rules, func(a, b *mih.Rule) int { return cmp.Compare(b.ID, a.ID) })
	names, err := h.serviceNames(r)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "rules", "Rules", "rules", ruleListData{Rules: rules, Services: names, Service: service})
}

// serviceNames lists the services' names, sorted, for filters.
func (h *Handler) serviceNames(r *http.Request) ([]string, error) {
	services, err := h.store.FindServices(r.Context())
	if err != nil {
		return nil, err
	}
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Name
	}
	slices.Sort(names)
	return names, nil
}

// eventHint is one suggestion of the event field's datalist.
type eventHint struct {
	Name, Description string
}

// eventDescriptions says what the common events mean (the table of local_integrationhub's
// administrator guide, docs/architecture.md, What mih replaces; and Moodle's own descriptions).
var eventDescriptions = map[string]string{
	`\core\event\user_created`:                     "A new user account was created",
	`\core\event\user_updated`:                     "A user profile was updated",
	`\core\event\user_deleted`:                     "A user was deleted",
	`\core\event\user_loggedin`:                    "A user logged in",
	`\core\event\user_loggedout`:                   "A user logged out",
	`\core\event\user_login_failed`:                "A sign-in failed",
	`\core\event\user_password_updated`:            "A user's password changed",
	`\core\event\course_created`:                   "A new course was created",
	`\core\event\course_updated`:                   "A course was updated",
	`\core\event\course_deleted`:                   "A course was deleted",
	`\core\event\course_completed`:                 "A user completed a course",
	`\core\event\course_viewed`:                    "A course was viewed",
	`\core\event\user_enrolment_created`:           "A user was enrolled in a course",
	`\core\event\user_enrolment_updated`:           "An enrolment changed",
	`\core\event\user_enrolment_deleted`:           "A user was unenrolled",
	`\core\event\role_assigned`:                    "A role was assigned",
	`\core\event\role_unassigned`:                  "A role was unassigned",
	`\core\event\user_graded`:                      "A grade was given",
	`\core\event\grade_item_updated`:               "A grade item was updated",
	`\core\event\badge_awarded`:                    "A badge was awarded to a user",
	`\core\event\message_sent`:                     "A message was sent",
	`\core\event\course_module_completion_updated`: "An activity's completion changed",
	`\mod_assign\event\assessable_submitted`:       "An assignment was submitted",
	`\mod_assign\event\submission_graded`:          "An assignment submission was graded",
	`\mod_quiz\event\attempt_submitted`:            "A quiz attempt was submitted",
	`\mod_forum\event\post_created`:                "A forum post was created",
}

func commonEvents() []eventHint {
	names := rule.CommonEvents()
	out := make([]eventHint, len(names))
	for i, n := range names {
		out[i] = eventHint{Name: n, Description: eventDescriptions[n]}
	}
	return out
}
