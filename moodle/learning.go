package moodle

import (
	"context"
	"errors"

	"github.com/mihhub/mih"
)

// Functions for the records an xAPI statement names.
const (
	FuncCourseModule = "core_course_get_course_module"
	FuncGradeItems   = "gradereport_user_get_grade_items"
)

// CourseModule is a course module as core_course_get_course_module returns it (the fields the
// hub reads).
type CourseModule struct {
	ID       int64  `json:"id"`
	Course   int64  `json:"course"`
	Name     string `json:"name"`
	ModName  string `json:"modname"`
	Instance int64  `json:"instance"`
}

// GradeItem is one grade item of a user's grade report (gradereport_user_get_grade_items).
type GradeItem struct {
	ID         int64    `json:"id"`
	ItemName   string   `json:"itemname"`
	ItemType   string   `json:"itemtype"`
	ItemModule string   `json:"itemmodule"`
	CMID       int64    `json:"cmid"`
	GradeMin   float64  `json:"grademin"`
	GradeMax   float64  `json:"grademax"`
	GradeRaw   *float64 `json:"graderaw"`
}

// CourseModule returns the course module with id cmid; found is false when Moodle does not know
// it (Moodle answers invalidrecord).
func (c *Client) CourseModule(ctx context.Context, cmid int64) (cm *CourseModule, found bool, err error) {
	var res struct {
		CM CourseModule `json:"cm"`
	}
	err = c.Call(ctx, FuncCourseModule, map[string]any{"cmid": cmid}, &res)
	// Moodle 4.5 answers an unknown cmid with invalidrecordunknown (get_module_from_cmid reads
	// the module's name first, with MUST_EXIST and no table to name).
	if e, ok := errors.AsType[*Error](err); ok && (e.ErrorCode == CodeInvalidRecord || e.ErrorCode == "invalidrecordunknown") {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &res.CM, true, nil
}

// GradeItems returns the grade items of a user's report in a course.
func (c *Client) GradeItems(ctx context.Context, courseID, userID int64) ([]GradeItem, error) {
	var res struct {
		UserGrades []struct {
			GradeItems []GradeItem `json:"gradeitems"`
		} `json:"usergrades"`
	}
	if err := c.Call(ctx, FuncGradeItems, map[string]any{"courseid": courseID, "userid": userID}, &res); err != nil {
		return nil, err
	}
	if len(res.UserGrades) == 0 {
		return nil, nil
	}
	return res.UserGrades[0].GradeItems, nil
}

// CourseModule returns the course module cmid as a map: id, course, name, modname, instance.
func (d *Directory) CourseModule(ctx context.Context, cmid int64) (map[string]any, error) {
	return d.lookup(ctx, dirKey{'m', cmid}, "course module", func(ctx context.Context) (map[string]any, error) {
		cm, found, err := d.client.CourseModule(ctx, cmid)
		if !found || err != nil {
			return nil, err
		}
		return map[string]any{"id": num(cm.ID), "course": num(cm.Course), "name": cm.Name, "modname": cm.ModName, "instance": num(cm.Instance)}, nil
	})
}

// GradeItem returns grade item itemID of a user in a course: id, itemname, itemtype,
// itemmodule, cmid, grademin, grademax. It is not cached: a grade item's range may change
// between two grades.
func (d *Directory) GradeItem(ctx context.Context, courseID, userID, itemID int64) (map[string]any, error) {
	items, err := d.client.GradeItems(ctx, courseID, userID)
	if err != nil {
		return nil, mih.WrapError(mih.CodeUnavailable, err, "look up Moodle grade item %d: %s", itemID, mih.ErrorMessage(err))
	}
	for _, it := range items {
		if it.ID == itemID {
			return map[string]any{"id": num(it.ID), "itemname": it.ItemName, "itemtype": it.ItemType, "itemmodule": it.ItemModule,
				"cmid": num(it.CMID), "grademin": it.GradeMin, "grademax": it.GradeMax}, nil
		}
	}
	return nil, mih.Errorf(mih.CodeNotFound, "Moodle grade item %d of user %d in course %d does not exist", itemID, userID, courseID)
}
