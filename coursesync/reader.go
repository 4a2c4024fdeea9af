package coursesync

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mihhub/mih/moodle"
)

// participant is an enrolled user as the planner sees it.
type participant struct {
	id     int64
	name   string // the match field's value, for reports
	roles  map[int64]string
	active bool
}

// enrolmentReader reads the participants of courses, with their roles and whether their
// enrolment is active: the planner reads every existing course of the source with it, and the
// apply reads the courses of a call whose outcome it must settle.
type enrolmentReader interface {
	enrolments(ctx context.Context, courseIDs []int64, progress func(done int)) (map[int64]map[int64]*participant, error)
}

// wsEnrolments reads participants through core_enrol_get_enrolled_users: per course, all the
// participants with their roles, and — Moodle's answer does not say which enrolments are
// suspended — the active ones, for courses that have participants.
type wsEnrolments struct {
	client   *moodle.Client
	parallel int
	// name is the value a participant is reported by (the job's match field).
	name func(u moodle.User) string
}

func (r *wsEnrolments) enrolments(ctx context.Context, ids []int64, progress func(int)) (map[int64]map[int64]*participant, error) {
	out := make(map[int64]map[int64]*participant, len(ids))
	var (
		mu   sync.Mutex
		done atomic.Int64
	)
	fields := []string{"id", "username", "idnumber", "email", "roles"}
	err := parallel(ctx, len(ids), r.parallel, func(ctx context.Context, i int) error {
		id := ids[i]
		all, err := r.client.EnrolledUsers(ctx, id, moodle.EnrolledUsersOptions{UserFields: fields})
		if err != nil {
			return moodleError(fmt.Sprintf("list the participants of course %d", id), err)
		}
		byID := make(map[int64]*participant, len(all))
		for _, u := range all {
			p := &participant{id: u.ID, name: r.name(u.User), roles: make(map[int64]string, len(u.Roles))}
			if p.name == "" {
				p.name = cmp.Or(u.Username, fmt.Sprintf("#%d", u.ID))
			}
			for _, r := range u.Roles {
				p.roles[r.RoleID] = r.ShortName
			}
			byID[u.ID] = p
		}
		if len(all) > 0 {
			active, err := r.client.EnrolledUsers(ctx, id, moodle.EnrolledUsersOptions{OnlyActive: true, UserFields: []string{"id"}})
			if err != nil {
				return moodleError(fmt.Sprintf("list the active participants of course %d", id), err)
			}
			for _, u := range active {
				if p := byID[u.ID]; p != nil {
					p.active = true
				}
			}
		}
		mu.Lock()
		out[id] = byID
		mu.Unlock()
		if progress != nil {
			progress(int(done.Add(1)))
		}
		return nil
	})
	return out, err
}
