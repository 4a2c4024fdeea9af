package moodletest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// function is one external function: its parameter description (external_function_parameters),
// whether it changes the site, and its implementation. run is called with the validated
// parameters while the Server holds its lock, for writing when write is set.
type function struct {
	params singleDesc
	write  bool
	run    func(s *Server, c *caller, p map[string]any) (any, *Exception)
}

// caller is what a function knows of who calls it.
type caller struct {
	functions []string // the functions of the token's service
}

// Functions lists the external functions the fake implements.
func Functions() []string { return slices.Sorted(maps.Keys(functions)) }

var functions = map[string]function{
	"core_webservice_get_site_info": {
		params: single(field{"serviceshortnames", defaultList(val(paramAlphanumext))}),
		run:    func(s *Server, c *caller, _ map[string]any) (any, *Exception) { return s.siteInfo(c) },
	},
	"core_course_get_courses_by_field": {
		params: single(
			field{"field", withDefault(paramAlpha, "")},
			field{"value", withDefault(paramRaw, "")},
		),
		run: func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.coursesByField(p) },
	},
	"core_course_create_courses": {
		params: single(field{"courses", list(single(
			field{"fullname", val(paramText)},
			field{"shortname", val(paramText)},
			field{"categoryid", val(paramInt)},
			field{"idnumber", optional(paramRaw)},
			field{"summary", optional(paramRaw)},
			field{"summaryformat", withDefault(paramInt, int64(1))},
			field{"format", withDefault(paramPlugin, "topics")},
			field{"showgrades", withDefault(paramInt, int64(1))},
			field{"newsitems", withDefault(paramInt, int64(5))},
			field{"startdate", optional(paramInt)},
			field{"enddate", optional(paramInt)},
			field{"numsections", optional(paramInt)},
			field{"maxbytes", withDefault(paramInt, int64(0))},
			field{"showreports", withDefault(paramInt, int64(0))},
			field{"visible", optional(paramInt)},
			field{"hiddensections", optional(paramInt)},
			field{"groupmode", withDefault(paramInt, int64(0))},
			field{"groupmodeforce", withDefault(paramInt, int64(0))},
			field{"defaultgroupingid", withDefault(paramInt, int64(0))},
			field{"enablecompletion", optional(paramInt)},
			field{"completionnotify", optional(paramInt)},
			field{"lang", optional(paramSafedir)},
			field{"forcetheme", optional(paramPlugin)},
			field{"courseformatoptions", optionalList(single(field{"name", val(paramAlphanumext)}, field{"value", val(paramRaw)}))},
			field{"customfields", optionalList(single(field{"shortname", val(paramAlphanumext)}, field{"value", val(paramRaw)}))},
		))}),
		write: true,
		run:   func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.createCourses(p) },
	},
	"core_course_update_courses": {
		params: single(field{"courses", list(single(
			field{"id", val(paramInt)},
			field{"fullname", optional(paramText)},
			field{"shortname", optional(paramText)},
			field{"categoryid", optional(paramInt)},
			field{"idnumber", optional(paramRaw)},
			field{"summary", optional(paramRaw)},
			field{"summaryformat", optional(paramInt)},
			field{"format", optional(paramPlugin)},
			field{"showgrades", optional(paramInt)},
			field{"newsitems", optional(paramInt)},
			field{"startdate", optional(paramInt)},
			field{"enddate", optional(paramInt)},
			field{"numsections", optional(paramInt)},
			field{"maxbytes", optional(paramInt)},
			field{"showreports", optional(paramInt)},
			field{"visible", optional(paramInt)},
			field{"hiddensections", optional(paramInt)},
			field{"groupmode", optional(paramInt)},
			field{"groupmodeforce", optional(paramInt)},
			field{"defaultgroupingid", optional(paramInt)},
			field{"enablecompletion", optional(paramInt)},
			field{"completionnotify", optional(paramInt)},
			field{"lang", optional(paramSafedir)},
			field{"forcetheme", optional(paramPlugin)},
			field{"courseformatoptions", optionalList(single(field{"name", val(paramAlphanumext)}, field{"value", val(paramRaw)}))},
			field{"customfields", optionalList(single(field{"shortname", val(paramAlphanumext)}, field{"value", val(paramRaw)}))},
		))}),
		write: true,
		run:   func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.updateCourses(p) },
	},
	"core_course_get_categories": {
		params: single(
			field{"criteria", defaultList(single(field{"key", val(paramAlpha)}, field{"value", val(paramRaw)}))},
			field{"addsubcategories", withDefault(paramBool, true)},
		),
		run: func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.categoriesFn(p) },
	},
	"core_user_create_users":           createUsersFn(),
	"core_course_get_course_module":    courseModuleFn(),
	"gradereport_user_get_grade_items": gradeItemsFn(),
	"core_user_update_users":           updateUsersFn(),
	"core_user_get_users_by_field": {
		params: single(
			field{"field", val(paramAlpha)},
			field{"values", list(val(paramRaw))},
		),
		run: func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.usersByField(p) },
	},
	"enrol_manual_enrol_users": {
		params: single(field{"enrolments", list(single(
			field{"roleid", val(paramInt)},
			field{"userid", val(paramInt)},
			field{"courseid", val(paramInt)},
			field{"timestart", optional(paramInt)},
			field{"timeend", optional(paramInt)},
			field{"suspend", optional(paramInt)},
		))}),
		write: true,
		run:   func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.enrolUsers(p) },
	},
	"core_enrol_submit_user_enrolment_form": {
		params: single(field{"formdata", val(paramRaw)}),
		write:  true,
		run:    func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.submitEnrolmentForm(p) },
	},
	"local_mih_update_enrolments": {
		params: single(field{"enrolments", list(single(
			field{"courseid", val(paramInt)},
			field{"userid", val(paramInt)},
			field{"suspend", optional(paramInt)},
			field{"timestart", optional(paramInt)},
			field{"timeend", optional(paramInt)},
		))}),
		write: true,
		run:   func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.updateEnrolments(p) },
	},
	"enrol_manual_unenrol_users": {
		params: single(field{"enrolments", list(single(
			field{"userid", val(paramInt)},
			field{"courseid", val(paramInt)},
			field{"roleid", optional(paramInt)},
		))}),
		write: true,
		run:   func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.unenrolUsers(p) },
	},
	"core_enrol_get_enrolled_users": {
		params: single(
			field{"courseid", val(paramInt)},
			field{"options", defaultList(single(field{"name", val(paramAlphanumext)}, field{"value", val(paramRaw)}))},
		),
		run: func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.enrolledUsers(p) },
	},
	"core_role_assign_roles": {
		params: single(field{"assignments", list(roleAssignmentDesc())}),
		write:  true,
		run: func(s *Server, _ *caller, p map[string]any) (any, *Exception) {
			return s.roleAssignments(p["assignments"], true)
		},
	},
	"core_role_unassign_roles": {
		params: single(field{"unassignments", list(roleAssignmentDesc())}),
		write:  true,
		run: func(s *Server, _ *caller, p map[string]any) (any, *Exception) {
			return s.roleAssignments(p["unassignments"], false)
		},
	},
}

func roleAssignmentDesc() singleDesc {
	return single(
		field{"roleid", val(paramInt)},
		field{"userid", val(paramInt)},
		field{"contextid", optional(paramInt)},
		field{"contextlevel", optional(paramAlphanum)},
		field{"instanceid", optional(paramInt)},
	)
}

// Accessors for validated parameters.

func str(m map[string]any, k string) (string, bool) { v, ok := m[k].(string); return v, ok }
func num(m map[string]any, k string) (int64, bool)  { v, ok := m[k].(int64); return v, ok }
func items(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, len(l))
	for i, x := range l {
		out[i], _ = x.(map[string]any)
	}
	return out
}

func (s *Server) siteInfo(c *caller) (any, *Exception) {
	st := s.st
	admin := st.users[2]
	fns := c.functions
	list := make([]map[string]any, 0, len(fns))
	for _, f := range fns {
		list = append(list, map[string]any{"name": f, "version": s.opts.Version})
	}
	return map[string]any{
		"sitename":              s.opts.SiteName,
		"username":              admin.Username,
		"firstname":             admin.FirstName,
		"lastname":              admin.LastName,
		"fullname":              admin.FirstName + " " + admin.LastName,
		"lang":                  "en",
		"userid":                admin.ID,
		"siteurl":               s.URL,
		"userpictureurl":        s.URL + "/theme/image.php/boost/core/1/u/f1",
		"functions":             list,
		"downloadfiles":         0,
		"uploadfiles":           0,
		"release":               s.opts.Release,
		"version":               s.opts.Version,
		"mobilecssurl":          "",
		"advancedfeatures":      []map[string]any{{"name": "usecomments", "value": 1}, {"name": "usetags", "value": 1}},
		"usercanmanageownfiles": true,
		"userquota":             0,
		"usermaxuploadfilesize": 0,
		"userhomepage":          1,
		"userprivateaccesskey":  "",
		"siteid":                SiteCourseID,
		"sitecalendartype":      "gregorian",
		"usercalendartype":      "gregorian",
		"userissiteadmin":       true,
		"theme":                 "boost",
		"limitconcurrentlogins": 0,
	}, nil
}

// phpIntCast is PHP's (int) on a string, which clean_param(PARAM_INT) uses: leading
// whitespace and a sign, then digits; anything else ends the number.
func phpIntCast(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.ParseInt(s[:end], 10, 64)
	return n
}

func (s *Server) coursesByField(p map[string]any) (any, *Exception) {
	st := s.st
	fieldName, _ := str(p, "field")
	value, _ := str(p, "value")
	var ids []int64
	warnings := []map[string]any{}
	switch fieldName {
	case "":
		ids = slices.Collect(maps.Keys(st.courses))
		s.ctl.Lock()
		per := s.listPerCourse
		s.ctl.Unlock()
		// Moodle formats every course of the list (export_for_template, format_text, the
		// course's files and contacts): the call takes time in proportion.
		time.Sleep(per * time.Duration(len(ids)))
	case "id":
		if _, ok := st.courses[phpIntCast(value)]; ok {
			ids = []int64{phpIntCast(value)}
		}
	case "ids":
		seen := map[int64]bool{}
		for part := range strings.SplitSeq(value, ",") {
			if strings.Trim(part, "0123456789") != "" || part == "" {
				continue
			}
			id, _ := strconv.ParseInt(part, 10, 64)
			if seen[id] {
				continue
			}
			seen[id] = true
			if _, ok := st.courses[id]; ok {
				ids = append(ids, id)
				continue
			}
			warnings = append(warnings, map[string]any{"item": "course", "itemid": id, "warningcode": "1",
				"message": "No access rights in course context"})
		}
	case "shortname":
		if id, ok := st.coursesByShort[value]; ok {
			ids = []int64{id}
		}
	case "idnumber":
		if id, ok := st.coursesByIDNumber[value]; ok && value != "" {
			ids = []int64{id}
		}
	case "category":
		ids = slices.Collect(maps.Keys(st.coursesByCategory[phpIntCast(value)]))
	default:
		return nil, invalidParameter("Invalid field name")
	}
	slices.Sort(ids)
	courses := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		courses = append(courses, s.courseOut(st.courses[id]))
	}
	return map[string]any{"courses": courses, "warnings": warnings}, nil
}

func (s *Server) courseOut(c *course) map[string]any {
	st := s.st
	catName := ""
	if cat := st.categories[c.CategoryID]; cat != nil {
		catName = cat.Name
	}
	methods := []string{}
	if c.hasManual && c.manualOn {
		methods = append(methods, "manual")
	}
	visible := 1
	if c.Hidden {
		visible = 0
	}
	custom := []map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(c.CustomFields)) {
		custom = append(custom, map[string]any{"name": k, "shortname": k, "type": "text",
			"valueraw": c.CustomFields[k], "value": c.CustomFields[k]})
	}
	return map[string]any{
		"id": c.ID, "fullname": c.FullName, "displayname": c.FullName, "shortname": c.ShortName,
		"courseimage": "", "categoryid": c.CategoryID, "categoryname": catName, "sortorder": c.sortorder,
		"summary": c.Summary, "summaryformat": 1, "summaryfiles": []any{}, "overviewfiles": []any{},
		"showactivitydates": true, "showcompletionconditions": true, "contacts": []any{},
		"enrollmentmethods": methods, "customfields": custom, "idnumber": c.IDNumber, "format": c.Format,
		"showgrades": 1, "newsitems": 5, "startdate": c.StartDate, "enddate": c.EndDate, "maxbytes": 0,
		"showreports": 0, "visible": visible, "groupmode": 0, "groupmodeforce": 0, "defaultgroupingid": 0,
		"enablecompletion": 1, "completionnotify": 0, "lang": "", "theme": "", "marker": 0,
		"legacyfiles": 0, "calendartype": "", "timecreated": c.TimeCreated, "timemodified": c.TimeModified,
		"requested": 0, "cacherev": c.TimeModified, "filters": []any{}, "courseformatoptions": []any{},
	}
}

// createCourses is core_course_create_courses: one delegated transaction for the whole call,
// so the first failing course aborts the call and nothing is created.
func (s *Server) createCourses(p map[string]any) (any, *Exception) {
	st := s.st
	list := items(p["courses"])
	pendingShort := map[string]bool{}
	pendingIDNumber := map[string]bool{}
	planned := make([]Course, 0, len(list))
	for _, c := range list {
		catID, _ := num(c, "categoryid")
		cat := st.categories[catID]
		if cat == nil {
			return nil, moodleException("errorcatcontextnotvalid", fmt.Sprintf(
				"You cannot execute functions in the category context (category id:%d). The context error message was: Invalid parameter value detected", catID))
		}
		full, _ := str(c, "fullname")
		short, _ := str(c, "shortname")
		if strings.TrimSpace(full) == "" {
			return nil, moodleException("errorinvalidparam", `The param "fullname" is invalid.`)
		}
		if strings.TrimSpace(short) == "" {
			return nil, moodleException("errorinvalidparam", `The param "shortname" is invalid.`)
		}
		if lang, ok := str(c, "lang"); ok && lang != "en" {
			return nil, moodleException("errorinvalidparam", `The param "lang" is invalid.`)
		}
		if _, taken := st.coursesByShort[short]; taken || pendingShort[short] {
			return nil, moodleException("shortnametaken", "Short name is already used for another course ("+short+")")
		}
		idnumber, _ := str(c, "idnumber")
		if idnumber != "" {
			if _, taken := st.coursesByIDNumber[idnumber]; taken || pendingIDNumber[idnumber] {
				return nil, moodleException("courseidnumbertaken", "ID number is already used for another course ("+idnumber+")")
			}
		}
		start, _ := num(c, "startdate")
		end, _ := num(c, "enddate")
		if end > 0 && end < start {
			return nil, moodleException("enddatebeforestartdate", "The course end date must be after the start date.")
		}
		hidden := cat.Hidden // create_course: without "visible", a course takes its category's
		if v, ok := num(c, "visible"); ok {
			hidden = v == 0
		}
		format, _ := str(c, "format")
		summary, _ := str(c, "summary")
		course := Course{ShortName: short, FullName: full, CategoryID: catID, IDNumber: idnumber,
			Summary: summary, Format: format, StartDate: start, EndDate: end, Hidden: hidden}
		for _, f := range items(c["customfields"]) {
			if course.CustomFields == nil {
				course.CustomFields = map[string]string{}
			}
			k, _ := str(f, "shortname")
			v, _ := str(f, "value")
			course.CustomFields[k] = v
		}
		pendingShort[short] = true
		if idnumber != "" {
			pendingIDNumber[idnumber] = true
		}
		planned = append(planned, course)
	}
	s.ctl.Lock()
	base, per := s.createBase, s.createPerCourse
	s.ctl.Unlock()
	if base > 0 || per > 0 {
		var cost time.Duration
		filled := map[int64]int{}
		for _, c := range planned {
			cost += base + per*time.Duration(len(st.coursesByCategory[c.CategoryID])+filled[c.CategoryID])
			filled[c.CategoryID]++
		}
		// The transaction takes its time; the call holds the write lock (s.wmu) but not the
		// data, so that reads meanwhile see the site as it was, and it commits in the end
		// whether or not the client still waits.
		s.mu.Unlock()
		time.Sleep(cost)
		s.mu.Lock()
	}
	out := make([]map[string]any, 0, len(planned))
	for _, c := range planned {
		co := st.insertCourse(c, true, true) // a new course gets the default manual instance
		out = append(out, map[string]any{"id": co.ID, "shortname": co.ShortName})
	}
	return out, nil
}

// updateCourses is core_course_update_courses: each course is updated on its own and a
// failure becomes a warning for that course.
func (s *Server) updateCourses(p map[string]any) (any, *Exception) {
	warnings := []map[string]any{}
	for _, c := range items(p["courses"]) {
		id, _ := num(c, "id")
		if e := s.updateCourse(id, c); e != nil {
			warnings = append(warnings, map[string]any{"item": "course", "itemid": id,
				"warningcode": e.ErrorCode, "message": e.Message})
		}
	}
	return map[string]any{"warnings": warnings}, nil
}

func (s *Server) updateCourse(id int64, c map[string]any) *Exception {
	st := s.st
	co := st.courses[id]
	if co == nil {
		return missingRecord("course")
	}
	next := co.Course
	if v, ok := num(c, "categoryid"); ok && v != co.CategoryID {
		if st.categories[v] == nil {
			return missingRecord("course_categories")
		}
		next.CategoryID = v
	}
	if v, ok := str(c, "fullname"); ok && v != co.FullName {
		if strings.TrimSpace(v) == "" {
			return moodleException("errorinvalidparam", `The param "fullname" is invalid.`)
		}
		next.FullName = v
	}
	if v, ok := str(c, "shortname"); ok && v != co.ShortName {
		if strings.TrimSpace(v) == "" {
			return moodleException("errorinvalidparam", `The param "shortname" is invalid.`)
		}
		if other, taken := st.coursesByShort[v]; taken && other != id {
			return moodleException("shortnametaken", "Short name is already used for another course ("+v+")")
		}
		next.ShortName = v
	}
	if v, ok := str(c, "idnumber"); ok && v != co.IDNumber {
		if other, taken := st.coursesByIDNumber[v]; taken && other != id && v != "" {
			return moodleException("courseidnumbertaken", "ID number is already used for another course ("+v+")")
		}
		next.IDNumber = v
	}
	if v, ok := str(c, "lang"); ok && v != "en" && v != "" {
		return moodleException("errorinvalidparam", `The param "lang" is invalid.`)
	}
	if v, ok := str(c, "summary"); ok {
		next.Summary = v
	}
	if v, ok := str(c, "format"); ok {
		next.Format = v
	}
	if v, ok := num(c, "startdate"); ok {
		next.StartDate = v
	}
	if v, ok := num(c, "enddate"); ok {
		next.EndDate = v
	}
	if next.EndDate > 0 && next.EndDate < next.StartDate {
		return moodleException("enddatebeforestartdate", "The course end date must be after the start date.")
	}
	if v, ok := num(c, "visible"); ok {
		next.Hidden = v == 0
	}
	for _, f := range items(c["customfields"]) {
		next.CustomFields = maps.Clone(next.CustomFields)
		if next.CustomFields == nil {
			next.CustomFields = map[string]string{}
		}
		k, _ := str(f, "shortname")
		v, _ := str(f, "value")
		next.CustomFields[k] = v
	}
	st.setCourse(co, next)
	return nil
}

func (s *Server) categoriesFn(p map[string]any) (any, *Exception) {
	st := s.st
	conds := map[string]string{}
	var order []string
	for _, c := range items(p["criteria"]) {
		key, _ := str(c, "key")
		key = strings.TrimSpace(key)
		value, _ := str(c, "value")
		if _, dup := conds[key]; dup {
			continue
		}
		switch key {
		case "id", "ids", "name", "parent", "idnumber", "visible", "theme":
		default:
			e := moodleException("invalidparameter", "Invalid parameter value detected")
			e.DebugInfo = "You can not search on this criteria: " + key
			return nil, e
		}
		conds[key] = value
		order = append(order, key)
	}
	match := func(cat *category) bool {
		for _, k := range order {
			v := conds[k]
			switch k {
			case "id":
				if cat.ID != phpIntCast(v) {
					return false
				}
			case "ids":
				found := false
				for part := range strings.SplitSeq(v, ",") {
					if phpIntCast(part) == cat.ID {
						found = true
					}
				}
				if !found {
					return false
				}
			case "name":
				if cat.Name != v {
					return false
				}
			case "parent":
				if cat.Parent != phpIntCast(v) {
					return false
				}
			case "idnumber":
				if cat.IDNumber != v {
					return false
				}
			case "visible":
				if cat.Hidden != (phpIntCast(v) == 0) {
					return false
				}
			case "theme":
				if cat.Theme != v {
					return false
				}
			}
		}
		return true
	}
	chosen := map[int64]*category{}
	for _, cat := range st.categories {
		if match(cat) {
			chosen[cat.ID] = cat
		}
	}
	if sub, _ := p["addsubcategories"].(bool); sub && len(order) > 0 {
		for _, parent := range slices.Collect(maps.Values(chosen)) {
			for _, cat := range st.categories {
				if strings.HasPrefix(cat.path, parent.path+"/") {
					chosen[cat.ID] = cat
				}
			}
		}
	}
	list := slices.SortedFunc(maps.Values(chosen), func(a, b *category) int { return cmp.Compare(a.sortorder, b.sortorder) })
	out := make([]map[string]any, 0, len(list))
	for _, cat := range list {
		visible := 1
		if cat.Hidden {
			visible = 0
		}
		out = append(out, map[string]any{
			"id": cat.ID, "name": cat.Name, "idnumber": cat.IDNumber, "description": cat.Description,
			"descriptionformat": 1, "parent": cat.Parent, "sortorder": cat.sortorder,
			"coursecount": len(st.coursesByCategory[cat.ID]), "visible": visible, "visibleold": visible,
			"timemodified": cat.modified, "depth": cat.depth, "path": cat.path, "theme": cat.Theme,
		})
	}
	return out, nil
}

// usersByField is core_user_get_users_by_field. Each value must already be in the form the
// field is cleaned to (a username trimmed and lowercase): a value that cleaning would change
// fails the whole call with invalidparameter, as in Moodle. Unknown values are left out.
func (s *Server) usersByField(p map[string]any) (any, *Exception) {
	st := s.st
	fieldName, _ := str(p, "field")
	values, _ := p["values"].([]any)
	var clean func(string) (string, bool)
	switch fieldName {
	case "id":
		clean = func(v string) (string, bool) {
			n := phpIntCast(v)
			return strconv.FormatInt(n, 10), true
		}
	case "idnumber":
		clean = func(v string) (string, bool) { return v, true }
	case "username":
		clean = func(v string) (string, bool) { return cleanUsername(v, s.opts.ExtendedUsernameChars), true }
	case "email":
		clean = func(v string) (string, bool) { return strings.TrimSpace(v), true }
	default:
		e := codingException("invalid field parameter")
		e.DebugInfo = "The search field '" + fieldName + "' is not supported, look at the web service documentation"
		return nil, e
	}
	found := map[int64]bool{}
	for _, x := range values {
		v, _ := x.(string)
		c, _ := clean(v)
		if !phpLooseEqual(v, c) {
			return nil, invalidParameter(fmt.Sprintf("The field '%s' value is invalid: %s(cleaned value: %s)", fieldName, v, c))
		}
		switch fieldName {
		case "id":
			if _, ok := st.users[phpIntCast(c)]; ok {
				found[phpIntCast(c)] = true
			}
		case "username":
			if id, ok := st.usersByName[c]; ok {
				found[id] = true
			}
		case "email":
			for _, id := range st.usersByEmail[c] {
				found[id] = true
			}
		case "idnumber":
			for _, id := range st.usersByIDNumber[c] {
				found[id] = true
			}
		}
	}
	out := make([]map[string]any, 0, len(found))
	for _, id := range slices.Sorted(maps.Keys(found)) {
		d := s.userOut(st.users[id], nil, nil)
		// Moodle returns a user only when the searched field is in its details.
		if v, ok := d[fieldName]; !ok || v == "" {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// userOut is user_get_user_details for an administrator: empty optional fields are left out.
// With a course, it adds the user's roles in the course context and the courses they are
// enrolled in; only names in fields are returned when fields is non-empty.
func (s *Server) userOut(u *user, co *course, fields map[string]bool) map[string]any {
	st := s.st
	want := func(name string) bool { return len(fields) == 0 || fields[name] }
	d := map[string]any{"id": u.ID, "fullname": strings.TrimSpace(u.FirstName + " " + u.LastName)}
	set := func(name string, v any) {
		if want(name) {
			d[name] = v
		}
	}
	setNonEmpty := func(name, v string) {
		if v != "" {
			set(name, v)
		}
	}
	set("username", u.Username)
	set("firstname", u.FirstName)
	set("lastname", u.LastName)
	setNonEmpty("email", u.Email)
	setNonEmpty("department", u.Department)
	setNonEmpty("institution", u.Institution)
	setNonEmpty("idnumber", u.IDNumber)
	set("firstaccess", 0)
	set("lastaccess", 0)
	set("auth", u.Auth)
	set("suspended", u.Suspended)
	set("confirmed", u.confirmed)
	set("lang", u.Lang)
	set("calendartype", "gregorian")
	set("theme", "")
	set("timezone", "99")
	set("mailformat", 1)
	set("trackforums", 0)
	set("description", "")
	set("descriptionformat", 1)
	setNonEmpty("city", u.City)
	setNonEmpty("country", u.Country)
	set("profileimageurlsmall", s.URL+"/theme/image.php/boost/core/1/u/f2")
	set("profileimageurl", s.URL+"/theme/image.php/boost/core/1/u/f1")
	if len(u.CustomFields) > 0 {
		custom := make([]map[string]any, 0, len(u.CustomFields))
		for _, k := range slices.Sorted(maps.Keys(u.CustomFields)) {
			v := u.CustomFields[k]
			custom = append(custom, map[string]any{"type": "text", "value": v, "displayvalue": v, "name": k, "shortname": k})
		}
		set("customfields", custom)
	}
	if co != nil {
		if want("roles") {
			roles := []map[string]any{}
			for _, rid := range st.rolesOf(co.ctx, u.ID) {
				r := st.roles[rid]
				roles = append(roles, map[string]any{"roleid": rid, "name": r.Name, "shortname": r.ShortName, "sortorder": r.SortOrder})
			}
			d["roles"] = roles
		}
		if want("enrolledcourses") {
			enrolled := []map[string]any{}
			for _, cid := range slices.Sorted(maps.Keys(st.userCourses[u.ID])) {
				c := st.courses[cid]
				enrolled = append(enrolled, map[string]any{"id": cid, "fullname": c.FullName, "shortname": c.ShortName})
			}
			d["enrolledcourses"] = enrolled
		}
		set("groups", []any{})
		set("lastcourseaccess", 0)
	}
	return d
}

// enrolUsers is enrol_manual_enrol_users: one transaction, the first failing enrolment aborts
// the call. Omitted timestart and timeend become 0 and an omitted suspend makes the enrolment
// active, also for a user who is already enrolled.
func (s *Server) enrolUsers(p map[string]any) (any, *Exception) {
	st := s.st
	type op struct {
		co                             *course
		user, role, timestart, timeend int64
		status                         int
	}
	var ops []op
	for _, e := range items(p["enrolments"]) {
		courseID, _ := num(e, "courseid")
		userID, _ := num(e, "userid")
		roleID, _ := num(e, "roleid")
		co := st.courses[courseID]
		if co == nil {
			return nil, invalidParameter("Context does not exist")
		}
		if !st.assignable(roleID, ContextCourse) {
			return nil, &Exception{Class: "moodle_exception", ErrorCode: "wsusercannotassign", Message: fmt.Sprintf(
				"You don't have the permission to assign this role (%d) to this user (%d) in this course(%d).", roleID, userID, courseID)}
		}
		if !co.hasManual || !co.manualOn {
			return nil, moodleException("wsnoinstance", fmt.Sprintf(
				"Manual enrolment plugin instance doesn't exist or is disabled for the course (id = %d)", courseID))
		}
		if st.users[userID] == nil {
			return nil, codingException("User ID does not exist or is deleted!")
		}
		o := op{co: co, user: userID, role: roleID, status: statusActive}
		o.timestart, _ = num(e, "timestart")
		o.timeend, _ = num(e, "timeend")
		if v, _ := num(e, "suspend"); v != 0 {
			o.status = statusSuspended
		}
		ops = append(ops, o)
	}
	var welcome []op
	for _, o := range ops {
		if st.enrol(o.co, o.user, o.role, o.timestart, o.timeend, o.status) {
			welcome = append(welcome, o)
		}
	}
	// The transaction is committed; the welcome messages go after it, and the first that
	// fails ends the call with an exception although every enrolment was made.
	s.ctl.Lock()
	fails := s.mailFails
	s.ctl.Unlock()
	for _, o := range welcome {
		st.notifications = append(st.notifications, Notification{Name: "enrolcoursewelcomemessage",
			UserID: o.user, CourseID: o.co.ID, Failed: fails})
		if fails {
			return nil, &Exception{Class: `core\exception\moodle_exception`, ErrorCode: "Message was not sent.",
				Message: "error/Message was not sent."}
		}
	}
	return nil, nil
}

// submitEnrolmentForm is core_enrol_submit_user_enrolment_form called with a token: the
// participants page's edit enrolment form is a moodleform, which, when its submission marker is
// there, checks the session's sesskey against a top-level sesskey parameter — one a token
// request neither has nor may send (the REST server refuses unexpected keys) — and throws
// missingparam; without the marker the form counts as not submitted. Either way nothing
// changes: the function works only from a logged-in browser session (lib/ajax/service.php).
func (s *Server) submitEnrolmentForm(p map[string]any) (any, *Exception) {
	raw, _ := str(p, "formdata")
	data, _ := ParseForm(raw, -1)
	if v := data.Get("ue"); v == nil || s.st.ues[phpIntCast(v.Str)] == [2]int64{} {
		return nil, missingRecord("user_enrolments")
	}
	if v := data.Get("_qf__enrol_user_enrolment_form"); v != nil && v.Str == "1" {
		return nil, moodleException("missingparam", "A required parameter (sesskey) was missing")
	}
	return map[string]any{"result": false, "validationerror": true}, nil
}

// updateEnrolments is local_mih_update_enrolments, the hub's Moodle plugin's function: each
// enrolment on its own, through the course's first enabled manual instance, by
// update_user_enrol — status and dates change (an omitted one is kept), no hook, no message.
// One that cannot be updated is a warning whose itemid is its index in the call.
func (s *Server) updateEnrolments(p map[string]any) (any, *Exception) {
	st := s.st
	warnings := []map[string]any{}
	warn := func(i int, code, msg string) {
		warnings = append(warnings, map[string]any{"item": "enrolment", "itemid": i, "warningcode": code, "message": msg})
	}
	updated := 0
	for i, e := range items(p["enrolments"]) {
		courseID, _ := num(e, "courseid")
		userID, _ := num(e, "userid")
		co := st.courses[courseID]
		switch {
		case co == nil:
			warn(i, "invalidcourseid", fmt.Sprintf("No course %d", courseID))
			continue
		case !co.hasManual || !co.manualOn:
			warn(i, "wsnoinstance", fmt.Sprintf("No enabled manual enrolment instance in course %d", courseID))
			continue
		}
		ue := co.enrolments[userID]
		if ue == nil {
			warn(i, "notenrolled", fmt.Sprintf("User %d is not enrolled in course %d through its manual instance", userID, courseID))
			continue
		}
		// An omitted field stays as it is (update_user_enrol with null).
		status := ue.status
		if v, ok := num(e, "suspend"); ok {
			status = statusActive
			if v != 0 {
				status = statusSuspended
			}
		}
		start, ok := num(e, "timestart")
		if !ok {
			start = ue.timestart
		}
		end, ok := num(e, "timeend")
		if !ok {
			end = ue.timeend
		}
		st.updateEnrolment(ue, start, end, status)
		updated++
	}
	return map[string]any{"updated": updated, "warnings": warnings}, nil
}

// unenrolUsers is enrol_manual_unenrol_users: one transaction. A user who is not enrolled is
// skipped; an unknown user or course fails the call.
func (s *Server) unenrolUsers(p map[string]any) (any, *Exception) {
	st := s.st
	type op struct {
		co   *course
		user int64
	}
	var ops []op
	for _, e := range items(p["enrolments"]) {
		courseID, _ := num(e, "courseid")
		userID, _ := num(e, "userid")
		co := st.courses[courseID]
		if co == nil {
			return nil, missingRecord("course")
		}
		if !co.hasManual {
			return nil, moodleException("wsnoinstance", fmt.Sprintf(
				"Manual enrolment plugin instance doesn't exist or is disabled for the course (id = %d)", courseID))
		}
		if st.users[userID] == nil {
			return nil, invalidParameter(fmt.Sprintf("User id not exist: %d", userID))
		}
		ops = append(ops, op{co, userID})
	}
	for _, o := range ops {
		st.unenrol(o.co, o.user)
	}
	return nil, nil
}

func (s *Server) enrolledUsers(p map[string]any) (any, *Exception) {
	st := s.st
	courseID, _ := num(p, "courseid")
	onlyActive := false
	var fields map[string]bool
	var limitFrom, limitNumber int64
	sortBy, desc := "id", false
	for _, o := range items(p["options"]) {
		name, _ := str(o, "name")
		value, _ := str(o, "value")
		switch name {
		case "onlyactive":
			onlyActive = value != "" && value != "0"
		case "userfields":
			fields = map[string]bool{}
			for f := range strings.SplitSeq(value, ",") {
				fields[strings.Map(func(r rune) rune {
					if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
						return r
					}
					return -1
				}, f)] = true
			}
		case "limitfrom":
			limitFrom = phpIntCast(value)
		case "limitnumber":
			limitNumber = phpIntCast(value)
		case "sortby":
			if !slices.Contains([]string{"id", "firstname", "lastname", "siteorder"}, value) {
				return nil, invalidParameter("Invalid value for sortby parameter (value: " + value + "),allowed values are: id,firstname,lastname,siteorder")
			}
			sortBy = value
		case "sortdirection":
			switch strings.ToUpper(value) {
			case "ASC":
				desc = false
			case "DESC":
				desc = true
			default:
				return nil, invalidParameter("Invalid value for sortdirection parameter (value: " + strings.ToUpper(value) + "),allowed values are: ASC,DESC")
			}
		}
	}
	co := st.courses[courseID]
	if co == nil {
		return nil, missingRecord("course")
	}
	now := st.now()
	var list []*user
	for uid, ue := range co.enrolments {
		if onlyActive && (ue.status != statusActive || ue.timestart > now || ue.timeend != 0 && ue.timeend < now) {
			continue
		}
		if u := st.users[uid]; u != nil {
			list = append(list, u)
		}
	}
	slices.SortFunc(list, func(a, b *user) int {
		c := 0
		switch sortBy {
		case "firstname":
			c = cmp.Compare(a.FirstName, b.FirstName)
		case "lastname":
			c = cmp.Compare(a.LastName, b.LastName)
		case "siteorder":
			c = cmp.Or(cmp.Compare(a.LastName, b.LastName), cmp.Compare(a.FirstName, b.FirstName))
		}
		c = cmp.Or(c, cmp.Compare(a.ID, b.ID))
		if desc {
			return -c
		}
		return c
	})
	if limitFrom > 0 {
		list = list[min(int(limitFrom), len(list)):]
	}
	if limitNumber > 0 && int(limitNumber) < len(list) {
		list = list[:limitNumber]
	}
	out := make([]map[string]any, 0, len(list))
	for _, u := range list {
		out = append(out, s.userOut(u, co, fields))
	}
	return out, nil
}

var contextLevels = map[string]int{
	"system": ContextSystem, "user": ContextUser, "coursecat": ContextCategory, "course": ContextCourse,
	"module": 70, "block": 80,
}

// roleAssignments is core_role_assign_roles (assign) and core_role_unassign_roles: one
// transaction; only roles assignable in the context's level are accepted.
func (s *Server) roleAssignments(v any, assign bool) (any, *Exception) {
	st := s.st
	type op struct{ ctx, user, role int64 }
	var ops []op
	for _, a := range items(v) {
		roleID, _ := num(a, "roleid")
		userID, _ := num(a, "userid")
		ctxID, _ := num(a, "contextid")
		var ctx context
		found := false
		if ctxID != 0 {
			ctx, found = st.contexts[ctxID]
		} else {
			levelName, hasLevel := str(a, "contextlevel")
			instance, hasInstance := num(a, "instanceid")
			if !hasLevel || levelName == "" || !hasInstance {
				return nil, invalidParameter("Missing parameters, please provide either context level with instance id or contextid")
			}
			level, ok := contextLevels[levelName]
			if !ok {
				n, err := strconv.Atoi(levelName)
				if err != nil || !slices.Contains(slices.Collect(maps.Values(contextLevels)), n) {
					return nil, invalidParameter("Invalid context level = " + levelName)
				}
				level = n
			}
			ctxID, found = st.contextOf(level, instance)
			ctx = context{level, instance}
		}
		if !found {
			return nil, invalidParameter("Context does not exist")
		}
		if !st.assignable(roleID, ctx.level) {
			verb := "assign"
			if !assign {
				verb = "unassign"
			}
			return nil, invalidParameter(fmt.Sprintf("Can not %s roleid=%d in contextid=%d", verb, roleID, ctxID))
		}
		if assign && st.users[userID] == nil {
			return nil, codingException("User ID does not exist or is deleted!")
		}
		ops = append(ops, op{ctxID, userID, roleID})
	}
	for _, o := range ops {
		if assign {
			st.assign(o.ctx, o.user, o.role)
		} else {
			st.unassign(o.ctx, o.user, o.role)
		}
	}
	return nil, nil
}
