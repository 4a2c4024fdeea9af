package coursesync

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

func testJob() *mih.SyncJob {
	j := mih.NewSyncJob()
	j.Name, j.Site, j.SourceService, j.SourcePath = "webcourse", "main", "academic", "/courses"
	j.Normalize()
	return j
}

// summary renders parsed courses compactly: shortname(fullname)[participant:roles…].
func summary(src *source) string {
	var parts []string
	for _, c := range src.courses {
		var ps []string
		for _, p := range c.participants {
			ps = append(ps, p.value+":"+strings.Join(p.roles, "+"))
		}
		s := fmt.Sprintf("%s(%s)[%s]", c.shortName, c.fullName, strings.Join(ps, " "))
		if c.startDate != nil {
			s += fmt.Sprintf(" start=%d", *c.startDate)
		}
		if c.endDate != nil {
			s += fmt.Sprintf(" end=%d", *c.endDate)
		}
		if c.visible != nil {
			s += fmt.Sprintf(" visible=%v", *c.visible)
		}
		if c.category != nil {
			s += " cat=" + c.category.String()
		}
		if c.idNumber != nil {
			s += " idnumber=" + *c.idNumber
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func TestParseSource(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		invalid []string // "index course user: reason"
		unknown string
	}{
		{name: "object", body: `{"courses":[{"shortname":"A","name":"Alpha","participants":[{"username":"U1"},{"username":"u2","roleid":"Teacher"}]}]}`,
			want: "A(Alpha)[u1:student u2:editingteacher]"},
		{name: "bare array, BOM, fullname", body: "\ufeff" + `[{"shortname":" A ","fullname":"Alpha"}]`, want: "A(Alpha)[]"},
		{name: "numbers as text", body: `[{"shortname":101,"name":"N","idnumber":2025,"participants":[{"username":7,"roleid":5}]}]`,
			want: "101(N)[7:student] idnumber=2025", unknown: "5"},
		{name: "dates and visibility", body: `[{"shortname":"A","name":"x","startdate":"2026-02-01","enddate":1801000000,"visible":"0"},
			{"shortname":"B","name":"y","startdate":"2026-02-01T08:00:00-03:00","enddate":0,"visible":true}]`,
			want: fmt.Sprintf("A(x)[] start=%d end=1801000000 visible=false; B(y)[] start=%d end=0 visible=true",
				time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(2026, 2, 1, 11, 0, 0, 0, time.UTC).Unix())},
		{name: "categories", body: `[{"shortname":"A","name":"x","category":"SCI"},{"shortname":"B","name":"y","category":4},{"shortname":"C","name":"z","category":null}]`,
			want: `A(x)[] cat=idnumber "SCI"; B(y)[] cat=id 4; C(z)[]`},
		{name: "roles merged, unknown counted", body: `[{"shortname":"A","name":"x","participants":[{"username":"u1","roleid":"professor"},{"username":"U1","roleid":"student"},
			{"username":"u2","roleid":"aluno"},{"username":"u3","roleid":"ALUNO"},{"username":"u4","roleid":""}]}]`,
			want: "A(x)[u1:editingteacher+student u2:student u3:student u4:student]", unknown: "aluno"},
		{name: "string participants", body: `[{"shortname":"A","name":"x","participants":["U1","u2"]}]`, want: "A(x)[u1:student u2:student]"},
		{name: "invalid items", body: `[{"shortname":""},{"name":"no short"},{"shortname":"D","enddate":"2026-13-01"},
			{"shortname":"E","startdate":-5},{"shortname":"F","visible":"maybe"},{"shortname":"G","participants":{"u":1}},
			{"shortname":"H","category":[1]},{"shortname":["x"]},17,
			{"shortname":"OK","name":"fine","participants":[{"roleid":"student"},{"username":{"a":1}},[1],{"username":"ok"}]}]`,
			want: "OK(fine)[ok:student]",
			invalid: []string{"0 : shortname: empty", "1 : shortname: empty",
				`2 D: enddate: "2026-13-01" is not a date (want Unix seconds, YYYY-MM-DD or RFC 3339)`,
				"3 E: startdate: -5 is not a date (want Unix seconds, YYYY-MM-DD or RFC 3339)",
				"4 F: visible: want true or false (or 1 or 0)", "5 G: participants: want an array",
				"6 H: category: want a category id (a number) or idnumber (a string)", "7 : shortname: want a string",
				"8 : not a course object: got a JSON number",
				"9 OK: participants[0]: no username", "9 OK: participants[1]: username: want a string",
				`9 OK: participants[2]: want an object like {"username": …, "roleid": …}`}},
		{name: "duplicates", body: `[{"shortname":"A","name":"1"},{"shortname":"B","name":"2"},{"shortname":"A","name":"3"}]`,
			want: "B(2)[]", invalid: []string{
				`0 A: shortname "A" appears 2 times in the source (items 0, 2): none of them is synced`,
				`2 A: shortname "A" appears 2 times in the source (items 0, 2): none of them is synced`}},
		{name: "too long", body: `[{"shortname":"` + strings.Repeat("s", 256) + `","name":"x"},{"shortname":"B","name":"` + strings.Repeat("é", 255) + `"}]`,
			invalid: []string{"0 " + strings.Repeat("s", 256) + ": shortname: longer than 255 characters", "1 B: name: longer than 254 characters"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := parseSource([]byte(tc.body), testJob())
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(src); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			var invalid []string
			for _, it := range src.invalid {
				invalid = append(invalid, fmt.Sprintf("%d %s%s: %s", it.Index, it.Course, map[bool]string{true: " " + it.User}[it.User != ""], it.Reason))
			}
			if strings.Join(invalid, "\n") != strings.Join(tc.invalid, "\n") {
				t.Errorf("invalid:\n%s\nwant:\n%s", strings.Join(invalid, "\n"), strings.Join(tc.invalid, "\n"))
			}
			var unknown []string
			for _, u := range src.unknownRoleList() {
				unknown = append(unknown, u.Name)
			}
			if strings.Join(unknown, ",") != tc.unknown {
				t.Errorf("unknown roles %v, want %q", unknown, tc.unknown)
			}
		})
	}
}

// What is not a course list at all is an error, never an empty source.
func TestParseSource_NotACourseList(t *testing.T) {
	for _, body := range []string{``, `  `, `null`, `"courses"`, `{"courses":{}}`, `{"items":[]}`, `[{"shortname":"A"}`, `<html></html>`, `{"courses":null}`} {
		if _, err := parseSource([]byte(body), testJob()); mih.ErrorCode(err) != mih.CodeInvalid {
			t.Errorf("%q: got %v, want an invalid error", body, err)
		}
	}
}

// Participants are matched on the job's field, falling back to username, which holds the value
// in local_webcourse's format whatever it is.
func TestParseSource_MatchField(t *testing.T) {
	j := testJob()
	j.MatchField = mih.MatchEmail
	src, err := parseSource([]byte(`[{"shortname":"A","name":"x","participants":[{"email":" Ann@X.edu "},{"username":"bob@x.edu"},{"email":"c@x.edu","username":"carol"}]}]`), j)
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(src); got != "A(x)[Ann@X.edu:student bob@x.edu:student c@x.edu:student]" {
		t.Errorf("got %s", got)
	}
}

func TestMissingCSV(t *testing.T) {
	got := string(MissingCSV([]mih.SyncMissingUser{
		{User: "00000000069", Course: "unique_field1", Role: "student"},
		{User: `o"brien, jr`, Course: "GEO\n2026", Role: "editingteacher"},
		{User: "=HYPERLINK(\"http://x\")", Course: "+SUM(1)", Role: "@x"},
		{User: "-5", Course: "a b", Role: "student"},
	}))
	want := "username,course_shortname,role\r\n" +
		"00000000069,unique_field1,student\r\n" +
		"\"o\"\"brien, jr\",\"GEO\r\n2026\",editingteacher\r\n" + // a line break inside a field is CRLF too
		"\"'=HYPERLINK(\"\"http://x\"\")\",'+SUM(1),'@x\r\n" +
		"-5,a b,student\r\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// It reads back as the same records.
	recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil || len(recs) != 5 || recs[2][0] != `o"brien, jr` || recs[2][1] != "GEO\n2026" {
		t.Errorf("read back %q, %v", recs, err)
	}
	if got := string(MissingCSV(nil)); got != "username,course_shortname,role\r\n" {
		t.Errorf("empty report %q", got)
	}
}

// registry is a Registry over two maps.
type registry struct {
	sites    map[string]*mih.Site
	services map[string]*mih.Service
}

func (r registry) FindSiteByName(_ context.Context, name string) (*mih.Site, error) {
	if s, ok := r.sites[name]; ok {
		return s, nil
	}
	return nil, mih.Errorf(mih.CodeNotFound, "site %q not found", name)
}

func (r registry) FindServiceByName(_ context.Context, name string) (*mih.Service, error) {
	if s, ok := r.services[name]; ok {
		return s, nil
	}
	return nil, mih.Errorf(mih.CodeNotFound, "service %q not found", name)
}

func TestCheckJob(t *testing.T) {
	reg := registry{
		sites:    map[string]*mih.Site{"main": {Name: "main"}},
		services: map[string]*mih.Service{"academic": {Name: "academic", Type: mih.ServiceREST}, "soapy": {Name: "soapy", Type: mih.ServiceSOAP}},
	}
	tests := []struct {
		name string
		json string
		want string // "" for valid, else part of the message
	}{
		{"product example", `{"name":"webcourse","site":"main","source_service":"academic","source_path":"/courses","category":1,
			"match_field":"username","roles":{"teacher":"editingteacher","professor":"editingteacher","student":"student"},
			"default_role":"student","role_ids":{"editingteacher":3,"teacher":4,"student":5},"removal":"keep",
			"update_courses":true,"schedule":"@hourly","enabled":true}`, ""},
		{"minimal", `{"name":"w","site":"main","source_service":"academic","source_path":"/c"}`, ""},
		{"cron with zone", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","schedule":"CRON_TZ=America/Sao_Paulo 30 6 * * 1-5"}`, ""},
		{"every", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","schedule":"@every 45m"}`, ""},
		{"category idnumber", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","category":"SCI-2026"}`, ""},
		{"bad cron", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","schedule":"61 * * * *"}`, "schedule"},
		{"never fires", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","schedule":"0 0 30 2 *"}`, "never fires"},
		{"bad zone", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","schedule":"CRON_TZ=Mars/Olympus 0 6 * * *"}`, "schedule"},
		{"unknown site", `{"name":"w","site":"other","source_service":"academic","source_path":"/c"}`, `site "other" does not exist`},
		{"unknown service", `{"name":"w","site":"main","source_service":"nope","source_path":"/c"}`, `source_service "nope" does not exist`},
		{"soap service", `{"name":"w","site":"main","source_service":"soapy","source_path":"/c"}`, "must be a REST service"},
		{"reserved", `{"name":"runs","site":"main","source_service":"academic","source_path":"/c"}`, "reserved"},
		{"role without id", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","roles":{"tutor":"tutor"}}`, `roles["tutor"]`},
		{"custom role with id", `{"name":"w","site":"main","source_service":"academic","source_path":"/c","roles":{"tutor":"tutor"},"role_ids":{"tutor":9}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := mih.NewSyncJob()
			err := json.Unmarshal([]byte(tc.json), j)
			if err == nil {
				err = CheckJob(context.Background(), reg, j)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.want != "" && (mih.ErrorCode(err) != mih.CodeInvalid || !strings.Contains(mih.ErrorMessage(err), tc.want)):
				t.Errorf("got %v, want an invalid error mentioning %q", err, tc.want)
			}
		})
	}
}
