// Package moodle calls Moodle's REST web service: event enrichment looks users and courses up
// through a Directory (docs/moodle.md, Enrichment), course sync lists, creates and enrols through
// the typed helpers (docs/sync.md). moodle/moodletest is a Moodle site in a test process that
// behaves like the real one.
//
// # Calls
//
// Call POSTs to {site}/webservice/rest/server.php a form with wstoken, wsfunction,
// moodlewsrestformat=json (Moodle's default is XML) and the function's parameters in PHP's
// bracket form, as PHP decodes them into arrays:
//
//	courses[0][fullname]=Physics&courses[0][shortname]=PHY1&courses[0][categoryid]=1
//	field=username&values[0]=jdoe&values[1]=asmith
//
// The token travels in the body only: not in the URL, the logs, errors, or the Client's
// String, GoString and LogValue; Moodle's messages are scrubbed of it, and redirects are
// never followed (a 307 would send the body, token included, wherever Location points).
//
// # Parameters
//
// Parameters are a struct or a map with string keys. They are flattened in a deterministic
// order: struct fields in declaration order, map keys sorted, list items by index. A struct
// field is named by its `moodle:"name"` tag, else its `json:"name"` tag, else its name in
// lower case; "-" skips it. Embedded structs lend their fields. Values become text: integers
// and floats in decimal, booleans as 1 and 0 (Moodle's PARAM_BOOL accepts nothing else),
// time.Time as Unix seconds (the zero time as 0, Moodle's "no date"), encoding.TextMarshaler
// as its text.
//
// PHP has no null in a form, and Moodle tells "absent" from "empty" (an absent field of
// core_course_update_courses stays as it is; an absent visible of a new course follows its
// category). So:
//
//   - a nil pointer, interface, map or slice is not sent;
//   - a zero value is sent, unless its field says omitempty (or omitzero): then it is not;
//   - an empty list or map sends nothing, which Moodle reads as absent: a required list
//     (values, courses, enrolments) cannot be empty, and the helpers do not call at all for
//     an empty input.
//
// Pointers are the way to say "send this, even if zero" next to omitempty; CourseUpdate uses
// them for every field. Keys that PHP would read differently are refused: brackets or NUL in a
// key, an empty key (`a[]` appends), spaces or dots in a top-level name (PHP turns them into
// "_"), and the names of the call's own fields (wstoken, wsfunction, …).
//
// PHP keeps only the first max_input_vars (1000 by default) fields of a request and drops the
// rest silently, which turns a large batch into a partial one. Call refuses a call over
// Options.MaxInputVars; the batched helpers size their batches to stay under it.
//
// # Answers and errors
//
// Moodle reports errors as HTTP 200 with {"exception","errorcode","message"} (and
// "debuginfo" when the site has debugging on); a function that returns nothing answers null.
// Every failure is an *Error whose Kind says what happened, with Moodle's errorcode for
// exceptions, and Error.Retryable (or the package function Retryable) telling what may succeed
// later — network failures, timeouts, 408/425/429/5xx, an answer that is not JSON (Moodle
// answers HTML while upgrading, in maintenance, or after a PHP fatal error), maintenance and
// database exceptions — from what will fail until someone acts: invalidtoken,
// accessexception (the token's service does not list the function), invalidparameter,
// invalidrecord, wsnoinstance, shortnametaken…, a 403 (web services or REST disabled), a 404
// or a redirect (wrong site URL), an answer over Options.MaxResponseBytes. An *Error also
// unwraps to a *mih.Error with a matching code (see Error).
//
// Answers are decoded tolerantly: a leading byte-order mark, and PHP warnings printed before
// the JSON by a site with display_errors on, are skipped; numbers sent as strings, booleans as
// 0/1, and lists sent as objects are converted to the Go field's type.
//
// # Batches
//
// CreateCourses, UpdateCourses, EnrolUsers, UnenrolUsers, AssignRoles and UnassignRoles send
// their items in batches of at most Options.BatchSize that fit max_input_vars. Moodle runs
// each of these calls in one transaction: a single bad item (a short name already taken, a
// course without a manual enrolment instance) rolls the whole call back. The helpers then
// split the batch in halves, again and again, until the refused items are alone, so that the
// others go through — the approach of logstore_xapi — and report the refused items in a
// *BatchError with their index in the input. A failure that concerns the whole call
// (token, access, network, timeout, maintenance) stops the helper at once. A call that timed
// out may or may not have been applied by Moodle: plan again from Moodle's state. A caller that
// sizes its own batches and settles failed calls by reading Moodle (course sync does) uses
// Client.Whole, whose helpers send what they are given in one call and never split it.
//
// # Moodle facts the helpers encode
//
//   - core_user_get_users_by_field refuses the whole call when one value is not in its
//     cleaned form, and usernames are cleaned to lowercase: UsersByField lowercases them.
//   - enrol_manual_enrol_users adds the role to those the user already holds; it never
//     replaces one. A role change is an EnrolUsers (or AssignRoles) with the new role and an
//     UnassignRoles of the old one.
//   - core_enrol_get_enrolled_users does not say whether an enrolment is suspended: compare
//     with EnrolledUsersOptions.OnlyActive.
//   - No core function lists roles or maps a short name to an id: the ids are configuration.
package moodle
