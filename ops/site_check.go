package ops

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
)

// The "Test connection" button of a site calls core_webservice_get_site_info with the stored URL
// and token, through the same Moodle client as enrichment and course sync, and shows who
// answered (the site's name, its Moodle release, the token's user) and which of the functions
// the hub calls the token's external service does not list. Nothing is changed on the site.

// siteTestTimeout bounds the call: the button is for a person waiting on the page.
const siteTestTimeout = 10 * time.Second

// SiteCheck is what the test of a site found.
type SiteCheck struct {
	Level   string // "ok", "warn" or "bad"
	Summary string
	Detail  string
	Latency time.Duration
	// What the site reported.
	SiteName, Release, Version, User, SiteURL string
	// Missing lists, by feature, the functions the token may not call.
	Missing []SiteNeed
}

// SiteNeed is what a feature of the hub calls on a site, and what fails without it.
type SiteNeed struct {
	Feature, Effect string
	Functions       []string
}

// SiteNeeds are the functions each feature calls, as the packages that call them check:
// enrichment looks users and courses up (moodle.Directory); a course sync plan stops without its
// reads and warns about its writes (coursesync's planner), and a job that updates courses or
// unenrols needs one function more.
func SiteNeeds(jobs []*mih.SyncJob) []SiteNeed {
	needs := []SiteNeed{
		{"Enrichment", "rules cannot look up users and courses of this site",
			[]string{moodle.FuncUsersByField, moodle.FuncCoursesByField}},
		{"Course sync: reading", "a sync plan stops",
			[]string{moodle.FuncCoursesByField, moodle.FuncUsersByField, moodle.FuncEnrolledUsers, moodle.FuncCategories}},
		{"Course sync: changes", "applying a plan fails on these changes",
			[]string{moodle.FuncCreateCourses, moodle.FuncEnrolUsers, moodle.FuncAssignRoles, moodle.FuncUnassignRoles}},
	}
	var update, unenrol []string
	for _, j := range jobs {
		if j.UpdateCourses {
			update = append(update, j.Name)
		}
		if j.Removal == mih.RemovalUnenrol {
			unenrol = append(unenrol, j.Name)
		}
	}
	if len(update) > 0 {
		needs = append(needs, SiteNeed{"Course sync: updating courses", jobsPhrase(update) + " cannot update existing courses",
			[]string{moodle.FuncUpdateCourses}})
	}
	if len(unenrol) > 0 {
		needs = append(needs, SiteNeed{"Course sync: unenrolling", jobsPhrase(unenrol) + " cannot remove enrolments",
			[]string{moodle.FuncUnenrolUsers}})
	}
	return needs
}

// checkSite calls the site's core_webservice_get_site_info and reads the answer.
func checkSite(ctx context.Context, s *mih.Site, needs []SiteNeed, now func() time.Time) *SiteCheck {
	if s.Token == "" {
		return &SiteCheck{Level: mih.CheckBad, Summary: "No Web Services token is stored for this site.",
			Detail: "Type the token of the hub's Moodle user in the form below and save, then test again."}
	}
	c, err := moodle.New(s.URL, s.Token, moodle.Options{Timeout: siteTestTimeout})
	if err != nil {
		return &SiteCheck{Level: mih.CheckBad, Summary: "The site's URL or token cannot be used.", Detail: strings.TrimPrefix(err.Error(), "moodle: ")}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, siteTestTimeout+time.Second)
	defer cancel()
	start := now()
	info, err := c.SiteInfo(ctx)
	if err != nil {
		return siteCheckFailed(err)
	}
	out := &SiteCheck{Level: mih.CheckOK, Latency: now().Sub(start),
		SiteName: info.SiteName, Release: info.Release, Version: info.Version, User: info.Username, SiteURL: info.SiteURL}
	for _, n := range needs {
		if m := info.Missing(n.Functions...); len(m) > 0 {
			out.Missing = append(out.Missing, SiteNeed{Feature: n.Feature, Effect: n.Effect, Functions: m})
		}
	}
	name := info.SiteName
	if name == "" {
		name = s.URL
	}
	out.Summary = "Connected to " + name + "."
	if len(out.Missing) > 0 {
		out.Level = mih.CheckWarn
		out.Detail = "The token's external service does not list every function the hub calls: add the functions below to it " +
			"(Site administration › Server › Web services › External services › Functions)."
	} else {
		out.Detail = "The token may call every function the hub uses."
	}
	if info.SiteURL != "" && strings.TrimRight(info.SiteURL, "/") != strings.TrimRight(s.URL, "/") {
		out.Level = mih.CheckWarn
		out.Detail += " The site calls itself " + info.SiteURL + ", not " + s.URL + ": links the hub makes may point to the wrong address."
	}
	return out
}

// siteCheckFailed explains a failed call: Moodle's own message (never with the token, which the
// client scrubs) and what usually causes it.
func siteCheckFailed(err error) *SiteCheck {
	out := &SiteCheck{Level: mih.CheckBad, Summary: "The site did not answer the test.", Detail: mih.ErrorMessage(err)}
	e, ok := errors.AsType[*moodle.Error](err)
	if !ok {
		return out
	}
	hint := ""
	switch {
	case moodle.IsInvalidToken(err):
		out.Summary = "Moodle refused the Web Services token."
		hint = "Check the token under Site administration › Server › Web services › Manage tokens: it may be mistyped, expired, or restricted to other IP addresses."
	case moodle.IsAccessException(err):
		out.Summary = "The token may not call " + moodle.FuncSiteInfo + "."
		hint = "Add it to the token's external service, with the other functions the hub calls; its user may also be suspended, or the service disabled."
	case e.Kind == moodle.KindTimeout:
		out.Summary = "The site did not answer within " + siteTestTimeout.String() + "."
	case e.Kind == moodle.KindNetwork:
		out.Summary = "The hub could not reach the site."
		hint = "Check the URL and that this host can connect to it (DNS, firewall, TLS certificate)."
	case e.Kind == moodle.KindHTTP && e.Status >= 300 && e.Status < 400:
		out.Summary = "The site redirects its Web Services."
		hint = "Set the URL to the site's wwwroot exactly as in its config.php ($CFG->wwwroot): http or https, with or without www."
	case e.Kind == moodle.KindHTTP && e.Status == http.StatusForbidden:
		out.Summary = "The site refused the call (HTTP 403)."
		hint = "Moodle answers 403 when the REST protocol is off: enable Web services (Advanced features) and the REST protocol (Site administration › Server › Web services › Manage protocols)."
	case e.Kind == moodle.KindHTTP && e.Status == http.StatusNotFound:
		out.Summary = "There is no Moodle Web Service at this URL (HTTP 404)."
		hint = "The URL must be the site's root (wwwroot), like https://moodle.example.edu or https://example.edu/moodle."
	case e.Kind == moodle.KindBadAnswer:
		out.Summary = "The answer is not Moodle's."
		hint = "The URL must be the site's root (wwwroot), and Web services must be enabled on the site."
	case e.Kind == moodle.KindException:
		out.Summary = "Moodle refused the call."
	}
	if hint != "" {
		out.Detail += " " + hint
	}
	return out
}

// TestSite tests the stored site: it calls core_webservice_get_site_info with its URL and token
// and lists the functions the hub calls that the token may not (for the sync jobs of the site).
// The result may quote the site's answer; the caller masks the site's secrets before showing it.
func (o *Ops) TestSite(ctx context.Context, name string) (*mih.Site, *SiteCheck, error) {
	s, err := o.store.FindSiteByName(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	all, err := o.store.FindSyncJobs(ctx)
	if err != nil {
		return nil, nil, err
	}
	var jobs []*mih.SyncJob
	for _, j := range all {
		if j.Site == s.Name {
			jobs = append(jobs, j)
		}
	}
	return s, checkSite(ctx, s, SiteNeeds(jobs), o.now), nil
}

// jobsPhrase names sync jobs in a sentence.
func jobsPhrase(names []string) string {
	switch len(names) {
	case 0:
		return "no sync job"
	case 1:
		return "the sync job " + names[0]
	}
	return "the sync jobs " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
