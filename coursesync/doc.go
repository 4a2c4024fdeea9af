// Package coursesync keeps a Moodle site's courses and enrolments in line with an external
// academic system: the course sync of the hub (docs/sync.md).
//
// A job (mih.SyncJob) names a source — a REST service of the registry and a path, answering
// {"courses": [{"shortname", "name", "participants": [{"username", "roleid"}]}]} or a bare array
// of courses — and a Moodle site. A run fetches the source through the gateway (the service's
// auth, timeout, retries and circuit breaker), reads the site's state through its Web Services,
// and computes a plan: courses to create or update, enrolments to add, reactivate, suspend or
// remove, roles to give and take, participants without an account (the missing-users CSV),
// role names the job does not map, and source items it cannot use. Applying the plan makes
// batched Web Service calls; the same source a second time plans nothing and changes nothing.
//
// What the sync touches, and what it never does:
//
//   - It creates courses and never deletes one; it updates existing courses only when the job
//     says so (update_courses), and only the fields the source gives.
//   - It enrols through the manual enrolment method only (enrol_manual_*). Moodle's Web
//     Services do not say through which method a user is enrolled, so the participants the job
//     manages are those holding a role it hands out (SyncJob.ManagedRoles); nobody else is
//     suspended or unenrolled, and only those roles are taken away. Courses the source no longer
//     lists are left as they are.
//   - A source that cannot be fetched or read is a failed run, never an empty source; a source
//     with no course or no participant at all is refused as the ground for any suspension or
//     removal (as enrol_database refuses a full unenrol), and the plan says so.
//   - Re-enrolling in Moodle adds a role rather than replacing it, so a role change is an
//     assignment of the new role and an unassignment of the old; a suspended enrolment that
//     comes back is reactivated (enrol_database's behaviour).
//
// Runner runs a job in this process (the CLI) or a run queued through the API; Scheduler, in
// every `mih serve`, runs the due schedules and the queued runs. A run holds the job's lease
// (mih.LeaseStore, renewed while it runs), so one process at a time runs a job, also with
// several processes on one PostgreSQL database. Progress and outcome are written to the run's
// record, which the API serves while the run goes on.
package coursesync
