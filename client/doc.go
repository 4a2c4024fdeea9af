// Package client is the Go client of the mih hub's HTTP API, for Go programs that call external
// services through the hub's Service Gateway or send it events. It uses only the standard
// library.
//
// A Client holds the hub's root URL and an API token:
//
//	c, err := client.New("http://127.0.0.1:8080", os.Getenv("MIH_TOKEN"))
//
// # Gateway calls
//
// A call goes to a service registered in the hub, by name; the hub adds the service's
// credentials and headers, applies its timeout, retries with backoff and its circuit breaker
// (POST /api/v1/gateway/{service}):
//
//	resp, err := c.Request(ctx, "crm", "/users", map[string]any{"username": "jdoe"}, "POST")
//
// or, fluently:
//
//	resp, err := c.Send("crm").To("/users/42").With(user).Method("PUT").Header("X-Trace", id).Do(ctx)
//
// err is nil whenever the hub made the call, whatever the service answered: resp.OK says
// whether it succeeded, resp.Status is the service's status (0 when no response came),
// resp.Err says why it failed (http_error, timeout, network, soap_fault, amqp_nack …),
// resp.Attempts how many tries it took. resp.Body is the service's JSON (a SOAP answer arrives
// parsed to JSON; a text answer as a JSON string) and resp.Decode reads it.
//
// Async queues the call as a delivery instead; the hub's workers send it with the same retries
// and circuit breaker, and Do returns at once with the delivery's id:
//
//	q, err := c.Send("crm").To("/users").With(user).Async().Do(ctx)
//
// # Events
//
// PublishEvent sends Moodle events (a *mih.Event, a map or a struct of the shape in docs/moodle.md)
// to POST /api/v1/events and reports how many the hub accepted and how many it already had.
//
// # Errors
//
// When the hub refuses a request — a bad token (401), an unknown service (404), a disabled
// service (409), an open circuit (503 circuit_open), a bad request (400) — the error is an
// *Error with the HTTP status, the hub's error code and message:
//
//	if e, ok := errors.AsType[*client.Error](err); ok && e.Code == client.CodeNotFound { … }
//	if client.IsCircuitOpen(err) { … } // nothing was called; retry after e.RetryAfter
//
// An answer that is not what the hub sends (a proxy's error page, a body that does not decode)
// is an *Error with Code CodeUnexpectedResponse. Any other error means the hub could not be
// reached or the context ended; errors.Is(err, context.DeadlineExceeded) and the like work.
//
// The token is sent only in the Authorization header: it appears in no error and in no output
// of String, GoString or the fmt verbs.
package client
