// Package template renders rule payloads: JSON documents with {{path}}
// placeholders filled from a Moodle event (docs/api.md, Payload templates).
//
// # Grammar
//
// A template is one JSON value (RFC 8259) in which a placeholder may stand
// in two places:
//
//	placeholder = "{{" spaces path spaces "}}"
//	path        = name *( "." name )
//	name        = 1*( ALPHA / DIGIT / "_" )      ; ASCII only
//	spaces      = *( " " / HTAB )
//
// What a placeholder becomes depends on where it stands:
//
//   - In value position, where JSON expects a value (the whole template, an
//     object member's value, an array element), {{path}} becomes that value
//     as JSON: a number stays a number, a string is quoted and escaped, an
//     object or array is embedded (compact, keys sorted), and a missing or
//     null value becomes null.
//   - In string position, inside a string literal (also an object key),
//     {{path}} becomes the value's text, escaped for JSON: numbers as their
//     literal text, booleans as true or false, objects and arrays as their
//     compact JSON text, and a missing or null value as empty text with a
//     Warning.
//
// Anywhere else (an unquoted key, after a value, inside a number) a
// placeholder is a compile error. In a string, "{{" always opens a
// placeholder; to send two literal braces write the first one as \u007b.
//
// A template that is empty or only whitespace sends the whole event, as
// does {{event}} in value position.
//
// # Lookup
//
// The first name of a path is looked up, in order:
//
//  1. event: the whole event, always;
//  2. a key of the event (userid, other, ip…);
//  3. user, relateduser, course: the enrichment data;
//  4. a key of the event's other, when other is an object (username on
//     \core\event\user_loggedin);
//  5. a key of the enriched user (email, firstname, fullname…).
//
// The remaining names walk into objects by key and into arrays by index
// (other.items.0).
//
// # Output
//
// Render keeps the template's own layout and only substitutes placeholders,
// so what an admin wrote is what the service receives. Substituted objects
// and arrays are compact. HTML characters (<, >, &) are not escaped.
// Invalid UTF-8 in event data becomes U+FFFD, as encoding/json does.
//
// # Why it is hand-written
//
// Mustache and text/template substitute text without knowing where in the
// JSON document they are. They cannot quote a string in value position yet
// leave a number bare, nor escape a quote or newline only inside a string
// literal, so Moodle data can break the payload. This package tokenizes the
// template as JSON once, records for each placeholder whether it is a value
// or part of a string, and refuses at compile time, with a line and column,
// any template that could not render to valid JSON. Render also checks its
// output with json.Valid and returns an error rather than invalid JSON.
package template
