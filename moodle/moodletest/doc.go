// Package moodletest runs a Moodle site inside a test: an httptest server on 127.0.0.1 that
// answers Moodle's REST web service the way Moodle 4.x does, so that the hub's Moodle client,
// enrichment and course sync are tested against Moodle's behaviour rather than against our
// idea of it.
//
// What follows Moodle's code (webservice/rest/locallib.php, webservice/lib.php,
// external_api, course/externallib.php, user/externallib.php, enrol/externallib.php,
// enrol/manual/externallib.php):
//
//   - the request as PHP decodes it (ParseForm): bracket names into nested arrays, the first
//     max_input_vars fields only, nothing of a body over post_max_size; GET and POST merged;
//   - answers in XML unless moodlewsrestformat=json; errors as HTTP 200 bodies
//     {"exception","errorcode","message"} (debuginfo with Options.Debug); null for functions
//     that return nothing; JSON escaped like PHP's json_encode ("\/", "\u00e9");
//   - the order of checks: token (invalidtoken), function name, known function (invalidrecord),
//     the token's service (accessexception), parameters (invalidparameter: missing keys,
//     unexpected keys, PARAM_INT/BOOL/TEXT/ALPHA… cleaning, arrays where scalars belong);
//   - core_course_create_courses in one transaction (shortnametaken, courseidnumbertaken,
//     errorcatcontextnotvalid, enddatebeforestartdate roll the whole call back; a course
//     without "visible" takes its category's); core_course_update_courses with a warning per
//     course; core_course_get_courses_by_field (id, ids, shortname, idnumber, category, all);
//     core_course_get_categories;
//   - core_user_get_users_by_field leaving unknown values out, and refusing the whole call
//     when a value is not already in its cleaned form (a username that is not lowercase);
//   - enrol_manual_enrol_users in one transaction with upsert semantics (omitted times become
//     0, omitted suspend means active, the role is added to those held), wsnoinstance,
//     wsusercannotassign; enrol_manual_unenrol_users removing the roles with the last
//     enrolment; core_enrol_get_enrolled_users with roles, onlyactive, userfields, sorting and
//     paging; core_role_assign_roles and core_role_unassign_roles;
//   - Moodle 4.4 and later's course welcome message: enrol_user dispatches after_user_enrolled
//     for a new enrolment and for an update alike, so enrol_manual_enrol_users sends the
//     welcome again on a suspension or reactivation (Notifications counts them, SetWelcomeMessage
//     turns a course's off), sent from the course contact, so not at all while the course has
//     no editing teacher; core_enrol_submit_user_enrolment_form refusing token calls (its
//     form wants the session's sesskey); the hub plugin's local_mih_update_enrolments changing
//     status and dates through update_user_enrol, which sends nothing; with SetMailFailing the
//     messages, sent after the transaction committed, fail and the call answers "Message was not
//     sent.";
//   - PostgreSQL's course creation getting slower as a category fills, a write that commits
//     after the client gave up, and reads that see the data as it was meanwhile
//     (SetCreateCost);
//   - the standard install: guest (user 1), admin (user 2, the token's owner), the front page
//     (course 1), "Category 1", and the standard roles with their ids and context levels.
//
// What is simplified: one administrator token owner with every capability, so capability
// checks always pass; only the manual enrolment method; role names empty as for standard
// roles; withcapability and groupid options ignored; course formats, themes and languages
// other than "en" not modelled.
//
// Tests seed the site (AddUser, AddCategory, AddCourse, Enrol, AssignRole,
// SetManualInstance), read it back (Enrolments, Course, CourseByShortName, Courses, User,
// UserByUsername), count calls (Calls, ResetCalls) and break it on purpose (FailNext,
// SetLatency, SetProtocolEnabled, AddToken with a short function list). Each call holds the
// site's lock, so a Server is safe for concurrent use and every call is atomic; data lives in
// maps indexed for the lookups the functions make, so a site of thousands of courses and tens
// of thousands of enrolments stays fast.
package moodletest
