package moodletest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Module is a course module to seed (an activity such as a page or an assignment).
type Module struct {
	ID       int64 // the cmid
	CourseID int64
	ModName  string // page, assign, quiz, …
	Name     string
	Instance int64
}

// GradeItem is a grade item of a course to seed; ItemModule and CMID are set for an
// activity's item, empty for the course total or a manual item.
type GradeItem struct {
	ID                 int64
	CourseID           int64
	ItemName, ItemType string // itemtype: mod, course, manual
	ItemModule         string
	Instance           int64
	CMID               int64
	GradeMin, GradeMax float64
}

// AddModule adds a course module.
func (s *Server) AddModule(m Module) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.modules[m.ID] = m
}

// AddGradeItem adds a grade item.
func (s *Server) AddGradeItem(g GradeItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.gradeItems[g.ID] = g
}

// SetGrade sets a user's raw grade in an item.
func (s *Server) SetGrade(itemID, userID int64, raw float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.grades[itemID] == nil {
		s.st.grades[itemID] = map[int64]float64{}
	}
	s.st.grades[itemID][userID] = raw
}

func courseModuleFn() function {
	return function{
		params: single(field{"cmid", val(paramInt)}),
		run:    func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.courseModule(p) },
	}
}

func gradeItemsFn() function {
	return function{
		params: single(field{"courseid", val(paramInt)}, field{"userid", withDefault(paramInt, int64(0))}, field{"groupid", withDefault(paramInt, int64(0))}),
		run:    func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.gradeItems(p) },
	}
}

// courseModule is core_course_get_course_module: the cm, or invalidrecord for an unknown id.
func (s *Server) courseModule(p map[string]any) (any, *Exception) {
	id, _ := num(p, "cmid")
	m, ok := s.st.modules[id]
	if !ok {
		// As Moodle 4.5 answers: get_module_from_cmid's first query joins modules and
		// course_modules, so the exception names no table.
		return nil, &Exception{Class: "dml_missing_record_exception", ErrorCode: "invalidrecordunknown",
			Message: "Can't find data record in database."}
	}
	return map[string]any{"cm": map[string]any{"id": m.ID, "course": m.CourseID, "module": 1, "name": m.Name,
		"modname": m.ModName, "instance": m.Instance, "section": 1, "visible": 1}, "warnings": []any{}}, nil
}

// gradeItems is gradereport_user_get_grade_items for one user (userid 0: every enrolled user
// is beyond this fake; it answers for no one).
func (s *Server) gradeItems(p map[string]any) (any, *Exception) {
	courseID, _ := num(p, "courseid")
	userID, _ := num(p, "userid")
	co, ok := s.st.courses[courseID]
	if !ok {
		return nil, missingRecord("course")
	}
	u, ok := s.st.users[userID]
	if !ok {
		return nil, moodleException("invaliduser", fmt.Sprintf("Invalid user id %d", userID))
	}
	items := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(s.st.gradeItems)) {
		g := s.st.gradeItems[id]
		if g.CourseID != co.ID {
			continue
		}
		it := map[string]any{"id": g.ID, "itemname": g.ItemName, "itemtype": g.ItemType, "itemmodule": g.ItemModule,
			"iteminstance": g.Instance, "itemnumber": 0, "categoryid": 1, "outcomeid": nil, "scaleid": nil,
			"grademin": g.GradeMin, "grademax": g.GradeMax, "graderaw": nil}
		if g.CMID > 0 {
			it["cmid"] = g.CMID
		}
		if raw, ok := s.st.grades[id][userID]; ok {
			it["graderaw"] = raw
		}
		items = append(items, it)
	}
	return map[string]any{"usergrades": []any{map[string]any{"courseid": co.ID, "userid": u.ID,
		"userfullname": strings.TrimSpace(u.FirstName + " " + u.LastName), "maxdepth": 2, "gradeitems": items}},
		"warnings": []any{}}, nil
}
