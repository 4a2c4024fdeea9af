package coursesync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
)

// LogSource marks the request log entries of source fetches.
const LogSource = "sync"

// fetchSource GETs the job's source through the gateway (the service's auth, timeout, retries
// and circuit breaker) and logs every attempt in the request log. Any failure is an error: a
// source that cannot be read is a failed run, never an empty source.
func (r *Runner) fetchSource(ctx context.Context, job *mih.SyncJob) ([]byte, error) {
	svc, err := r.store.FindServiceByName(ctx, job.SourceService)
	if err != nil {
		if mih.ErrorCode(err) == mih.CodeNotFound {
			return nil, mih.Errorf(mih.CodeInvalid, "source service %q does not exist", job.SourceService)
		}
		return nil, fmt.Errorf("find source service: %w", err)
	}
	if svc.Type != mih.ServiceREST {
		return nil, mih.Errorf(mih.CodeInvalid, "source service %q is a %s service, not REST", svc.Name, svc.Type)
	}
	if !svc.Enabled {
		return nil, mih.Errorf(mih.CodeConflict, "source service %q is disabled", svc.Name)
	}
	req := &mih.Request{Method: "GET", Path: job.SourcePath, Headers: map[string]string{"Accept": "application/json"}}
	res, err := r.gateway.Do(ctx, svc, req)
	if err != nil {
		// No call was made: the circuit is open, or the request cannot be built.
		if se, ok := errors.AsType[*mih.SendError](err); ok {
			return nil, mih.WrapError(mih.CodeInvalid, se, "source %s%s: %s", svc.Name, job.SourcePath, se.Message)
		}
		return nil, fmt.Errorf("source %s: %w", svc.Name, err)
	}
	r.logFetch(ctx, svc, req, res)
	if res.Err != nil {
		msg := res.Err.Error()
		if se, ok := errors.AsType[*mih.SendError](res.Err); ok {
			msg = se.Message
		}
		return nil, mih.WrapError(mih.CodeUnavailable, res.Err, "source %s%s failed after %d attempt(s): %s", svc.Name, job.SourcePath, res.Attempts, msg)
	}
	body := res.Response.Body
	if int64(len(body)) > r.maxSource {
		return nil, mih.Errorf(mih.CodeTooLarge, "source %s%s answered more than %d bytes", svc.Name, job.SourcePath, r.maxSource)
	}
	return body, nil
}

// logFetch records the attempts of a source fetch in the request log. The fetch happened whatever
// this write does, so a failure is logged, not returned.
func (r *Runner) logFetch(ctx context.Context, svc *mih.Service, req *mih.Request, res *gateway.Result) {
	if len(res.Tries) == 0 {
		return
	}
	entries := make([]*mih.LogEntry, len(res.Tries))
	for i, t := range res.Tries {
		e := &mih.LogEntry{
			Time: t.Start.Add(t.Latency), Service: svc.Name, Endpoint: req.Path, Method: req.Method, Status: t.Status,
			LatencyMS: float64(t.Latency) / float64(time.Millisecond), Attempts: t.N, Success: t.Err == nil, Source: LogSource,
		}
		if t.Err != nil {
			e.Error = mih.ErrorMessage(t.Err)
			if se, ok := errors.AsType[*mih.SendError](t.Err); ok {
				e.Error = se.Error()
			}
		}
		entries[i] = e
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.store.CreateLogs(wctx, entries); err != nil {
		r.log.LogAttrs(ctx, slog.LevelWarn, "write sync source request log", slog.String("service", svc.Name), slog.String("err", err.Error()))
	}
}

// sourceCourse is a course of the source, checked.
type sourceCourse struct {
	index     int
	shortName string
	fullName  string // "" when the source gave none
	idNumber  *string
	summary   *string
	startDate *int64
	endDate   *int64
	visible   *bool
	category  *mih.SyncCategory
	// participants by match value, in the order first seen; roles are Moodle role short names.
	participants []*sourceParticipant
}

type sourceParticipant struct {
	value string
	roles []string // sorted, unique
}

// source is the source after parsing: valid courses and the reports about the rest.
type source struct {
	courses      []*sourceCourse
	participants int // participants of valid courses
	invalid      []mih.SyncInvalidItem
	unknownRoles map[string]*mih.SyncUnknownRole
}

// Moodle's limits on course names (course table: fullname 254, shortname 255, idnumber 100).
const (
	maxFullName  = 254
	maxShortName = 255
	maxIDNumber  = 100
)

// parseSource reads the source's answer: {"courses": […]} or a bare array of courses. Each
// course is checked on its own, so that one bad item is reported and the others are planned;
// courses whose short name appears more than once are all left out, since which one is right
// cannot be told. An answer that is not such a document at all is an error.
func parseSource(body []byte, job *mih.SyncJob) (*source, error) {
	body = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf")))
	var items []json.RawMessage
	switch {
	case len(body) == 0:
		return nil, mih.Errorf(mih.CodeInvalid, "the source answered an empty body, not a JSON document")
	case body[0] == '[':
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, sourceJSONError(body, err)
		}
	case body[0] == '{':
		var doc struct {
			Courses *[]json.RawMessage `json:"courses"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, sourceJSONError(body, err)
		}
		if doc.Courses == nil {
			return nil, mih.Errorf(mih.CodeInvalid, `the source answered an object without a "courses" array`)
		}
		items = *doc.Courses
	default:
		return nil, sourceJSONError(body, errors.New("want {\"courses\": […]} or an array of courses"))
	}

	src := &source{unknownRoles: map[string]*mih.SyncUnknownRole{}}
	var parsed []*sourceCourse
	for i, raw := range items {
		c, bad := parseCourse(i, raw, job, src)
		if bad != "" {
			item := mih.SyncInvalidItem{Index: i, Reason: bad}
			if c != nil {
				item.Course = c.shortName
			}
			src.invalid = append(src.invalid, item)
			continue
		}
		parsed = append(parsed, c)
	}
	seen := map[string][]int{}
	for _, c := range parsed {
		seen[c.shortName] = append(seen[c.shortName], c.index)
	}
	for _, c := range parsed {
		if at := seen[c.shortName]; len(at) > 1 {
			src.invalid = append(src.invalid, mih.SyncInvalidItem{Index: c.index, Course: c.shortName,
				Reason: fmt.Sprintf("shortname %q appears %d times in the source (items %s): none of them is synced", c.shortName, len(at), joinInts(at))})
			continue
		}
		src.courses = append(src.courses, c)
		src.participants += len(c.participants)
	}
	slices.SortFunc(src.invalid, func(a, b mih.SyncInvalidItem) int {
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return strings.Compare(a.User, b.User)
	})
	return src, nil
}

func sourceJSONError(body []byte, err error) error {
	return mih.WrapError(mih.CodeInvalid, err, "the source's answer (%d bytes) is not a course list: %v", len(body), err)
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// rawCourse is a course as sources send it. Fields whose type varies between systems (numbers
// as strings, dates as text) are decoded by hand.
type rawCourse struct {
	ShortName    json.RawMessage `json:"shortname"`
	Name         json.RawMessage `json:"name"`
	FullName     json.RawMessage `json:"fullname"`
	IDNumber     json.RawMessage `json:"idnumber"`
	Category     json.RawMessage `json:"category"`
	Summary      json.RawMessage `json:"summary"`
	StartDate    json.RawMessage `json:"startdate"`
	EndDate      json.RawMessage `json:"enddate"`
	Visible      json.RawMessage `json:"visible"`
	Participants json.RawMessage `json:"participants"`
}

// parseCourse checks one course. It returns the reason when the course is left out, with the
// course when its short name could be read. Participants that cannot be used are reported in
// src.invalid, and the course goes on without them.
func parseCourse(index int, raw json.RawMessage, job *mih.SyncJob, src *source) (*sourceCourse, string) {
	var rc rawCourse
	if err := json.Unmarshal(raw, &rc); err != nil {
		return nil, "not a course object: " + jsonReason(err)
	}
	short, ok, err := text(rc.ShortName)
	if err != nil {
		return nil, "shortname: " + err.Error()
	}
	c := &sourceCourse{index: index, shortName: strings.TrimSpace(short)}
	switch {
	case !ok || c.shortName == "":
		return c, "shortname: empty"
	case utf8.RuneCountInString(c.shortName) > maxShortName:
		return c, fmt.Sprintf("shortname: longer than %d characters", maxShortName)
	}
	nameRaw := rc.Name
	if isAbsent(nameRaw) {
		nameRaw = rc.FullName
	}
	name, _, err := text(nameRaw)
	if err != nil {
		return c, "name: " + err.Error()
	}
	c.fullName = strings.TrimSpace(name)
	if utf8.RuneCountInString(c.fullName) > maxFullName {
		return c, fmt.Sprintf("name: longer than %d characters", maxFullName)
	}
	if v, ok, err := text(rc.IDNumber); err != nil {
		return c, "idnumber: " + err.Error()
	} else if ok {
		v = strings.TrimSpace(v)
		if utf8.RuneCountInString(v) > maxIDNumber {
			return c, fmt.Sprintf("idnumber: longer than %d characters", maxIDNumber)
		}
		if v != "" {
			c.idNumber = &v
		}
	}
	if v, ok, err := text(rc.Summary); err != nil {
		return c, "summary: " + err.Error()
	} else if ok {
		c.summary = &v
	}
	if !isAbsent(rc.Category) {
		var cat mih.SyncCategory
		if err := json.Unmarshal(rc.Category, &cat); err != nil {
			return c, "category: want a category id (a number) or idnumber (a string)"
		}
		if !cat.IsZero() {
			c.category = &cat
		}
	}
	if c.startDate, err = date(rc.StartDate); err != nil {
		return c, "startdate: " + err.Error()
	}
	if c.endDate, err = date(rc.EndDate); err != nil {
		return c, "enddate: " + err.Error()
	}
	if c.startDate != nil && c.endDate != nil && *c.endDate > 0 && *c.endDate < *c.startDate {
		return c, "enddate: before startdate"
	}
	if c.visible, err = boolean(rc.Visible); err != nil {
		return c, "visible: " + err.Error()
	}

	var parts []json.RawMessage
	if !isAbsent(rc.Participants) {
		if err := json.Unmarshal(rc.Participants, &parts); err != nil {
			return c, "participants: want an array"
		}
	}
	byValue := map[string]*sourceParticipant{}
	for pi, praw := range parts {
		value, roleName, bad := parseParticipant(praw, job.MatchField)
		if bad != "" {
			src.invalid = append(src.invalid, mih.SyncInvalidItem{Index: index, Course: c.shortName, User: value,
				Reason: fmt.Sprintf("participants[%d]: %s", pi, bad)})
			continue
		}
		role := job.DefaultRole
		if roleName != "" {
			mapped, known := job.Roles[roleName]
			if known {
				role = mapped
			} else {
				u := src.unknownRoles[roleName]
				if u == nil {
					u = &mih.SyncUnknownRole{Name: roleName, MappedTo: job.DefaultRole, Course: c.shortName, User: value}
					src.unknownRoles[roleName] = u
				}
				u.Count++
			}
		}
		p := byValue[value]
		if p == nil {
			p = &sourceParticipant{value: value}
			byValue[value] = p
			c.participants = append(c.participants, p)
		}
		if !slices.Contains(p.roles, role) {
			p.roles = append(p.roles, role)
			slices.Sort(p.roles)
		}
	}
	return c, ""
}

// parseParticipant reads {"username": …, "roleid": …} (the value is taken from the field named
// by the match field, else from username; the role from roleid, else role), or a bare string.
// Role names are lowercased; the value is lowercased for usernames, which Moodle keeps in lower
// case.
func parseParticipant(raw json.RawMessage, match string) (value, role, bad string) {
	raw = bytes.TrimSpace(raw)
	var fields map[string]json.RawMessage
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", "", "not a participant"
		}
		fields = map[string]json.RawMessage{match: raw}
	} else if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return "", "", "want an object like {\"username\": …, \"roleid\": …}"
	}
	vraw, ok := fields[match]
	if !ok || isAbsent(vraw) {
		vraw = fields["username"]
	}
	v, _, err := text(vraw)
	if err != nil {
		return "", "", match + ": " + err.Error()
	}
	value = strings.TrimSpace(v)
	if match == mih.MatchUsername {
		value = strings.ToLower(value)
	}
	if value == "" {
		return "", "", fmt.Sprintf("no %s", match)
	}
	rraw, ok := fields["roleid"]
	if !ok || isAbsent(rraw) {
		rraw = fields["role"]
	}
	r, _, err := text(rraw)
	if err != nil {
		return value, "", "roleid: " + err.Error()
	}
	return value, strings.ToLower(strings.TrimSpace(r)), ""
}

func isAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// text reads a string, or a number as its text; ok is false when the field is absent or null.
func text(raw json.RawMessage) (s string, ok bool, err error) {
	if isAbsent(raw) {
		return "", false, nil
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, errors.New("not a valid string")
		}
		return s, true, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", false, errors.New("not a valid number")
		}
		return n.String(), true, nil
	}
	return "", false, errors.New("want a string")
}

// date reads a date: Unix seconds (a number or a numeric string), YYYY-MM-DD (midnight UTC) or
// RFC 3339. 0 is Moodle's "no date". Anything else is refused, with what was sent.
func date(raw json.RawMessage) (*int64, error) {
	s, ok, err := text(raw)
	if err != nil || !ok {
		return nil, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 253402300799 { // 9999-12-31
			return nil, fmt.Errorf("%s is not a date (want Unix seconds, YYYY-MM-DD or RFC 3339)", s)
		}
		return &n, nil
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1970 {
			n := t.Unix()
			return &n, nil
		}
	}
	return nil, fmt.Errorf("%q is not a date (want Unix seconds, YYYY-MM-DD or RFC 3339)", clip(s, 40))
}

// boolean reads true/false, 1/0 or "1"/"0".
func boolean(raw json.RawMessage) (*bool, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return &b, nil
	}
	s, _, err := text(raw)
	if err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "true":
			b = true
			return &b, nil
		case "0", "false":
			return &b, nil
		}
	}
	return nil, errors.New("want true or false (or 1 or 0)")
}

func jsonReason(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field != "" {
			return fmt.Sprintf("%s: got a JSON %s", te.Field, te.Value)
		}
		return fmt.Sprintf("got a JSON %s", te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// unknownRoleList returns the unknown roles by name.
func (s *source) unknownRoleList() []mih.SyncUnknownRole {
	out := make([]mih.SyncUnknownRole, 0, len(s.unknownRoles))
	for _, name := range slices.Sorted(maps.Keys(s.unknownRoles)) {
		out = append(out, *s.unknownRoles[name])
	}
	return out
}
