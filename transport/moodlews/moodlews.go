// Package moodlews is the transport of inbound rules: it calls a Moodle site's Web Services
// (package moodle's client) for deliveries whose service is a site (mih.SiteService), so that
// inbound calls go through the same ledger, gateway, circuit breaker, retries and dead-letter
// queue as outbound ones (docs/inbound.md).
//
// A request's Path is the function (core_user_create_users) and its Body the parameters as a
// JSON object, sent in PHP's bracket form. Moodle answers failures as HTTP 200 bodies; each is
// classified once here:
//
//	exception sitemaintenance, upgraderunning,   retryable (the site says "not now")
//	  database errors
//	network failure, timeout, 5xx, 429, HTML     retryable
//	  instead of JSON (an upgrade, a PHP fatal)
//	invalidparameter, invalidtoken,              final: the call fails the same way until
//	  accessexception, invalidrecord, …          someone changes the data, the token or the
//	                                             service's functions
//	an answer with a non-empty warnings list     final (Moodle skipped an item: an unknown
//	                                             user id in core_user_update_users)
//	errorcode "Message was not sent."            success: Moodle sends notifications after the
//	                                             call's transaction committed, so the enrolment
//	                                             (or other change) is done; the answer is kept
//
// # References
//
// A parameter may name a user or a course instead of giving its id, as an object with one key:
//
//	{"$user": {"username": "jdoe"}}        any field of core_user_get_users_by_field
//	{"$course": {"shortname": "BIO101"}}   any field of core_course_get_courses_by_field
//
// The transport looks the record up just before the call and sends its id. A record that is
// not there is a retryable failure: the message that creates it may be one delivery ahead
// (an account created and enrolled from one message); once the attempts are used up the
// delivery goes to the dead-letter queue saying which record was missing.
package moodlews

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
)

// Error codes of this transport, besides the shared ones (timeout, network, http_error).
const (
	ErrException = "moodle_exception" // Moodle answered with an exception
	ErrWarning   = "moodle_warning"   // Moodle answered with warnings: items it skipped
	ErrReference = "moodle_reference" // a $user or $course reference found no record (yet)
)

// ErrCodeMessageNotSent is the errorcode Moodle answers when a call's notification could not be
// sent (a welcome e-mail on enrolment) after the call's own changes were committed.
const ErrCodeMessageNotSent = "Message was not sent."

// MaxBody bounds the answer kept for the log and the DLQ.
const MaxBody = 64 << 10

// Options tunes a Transport.
type Options struct {
	// HTTPClient sends the calls (default: package moodle's).
	HTTPClient *http.Client
	Logger     *slog.Logger
	UserAgent  string
}

// Transport is a mih.Transport for services of type mih.ServiceMoodle: the service's BaseURL is
// the site's URL and its Auth.Token the site's Web Services token.
type Transport struct {
	opts Options

	mu      sync.Mutex
	clients map[[32]byte]*moodle.Client
}

var _ mih.Transport = (*Transport)(nil)

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Transport{opts: opts, clients: map[[32]byte]*moodle.Client{}}
}

// client returns the client of a site and token, made once: it keeps its connections.
func (t *Transport) client(s *mih.Service) (*moodle.Client, error) {
	key := sha256.Sum256([]byte(s.BaseURL + "\x00" + s.Auth.Token + "\x00" + strconv.FormatFloat(s.TimeoutS, 'g', -1, 64)))
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[key]; ok {
		return c, nil
	}
	c, err := moodle.New(s.BaseURL, s.Auth.Token, moodle.Options{HTTPClient: t.opts.HTTPClient, Logger: t.opts.Logger,
		UserAgent: t.opts.UserAgent, Timeout: s.Timeout()})
	if err != nil {
		return nil, err
	}
	t.clients[key] = c
	return c, nil
}

// Send makes one Web Service call.
func (t *Transport) Send(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error) {
	start := time.Now()
	resp := &mih.Response{URL: strings.TrimRight(s.BaseURL, "/") + "/webservice/rest/server.php",
		RequestHeaders: map[string]string{"wsfunction": r.Path}}
	if s.Auth.Token == "" {
		return resp, &mih.SendError{Code: mih.ErrRequest, Message: "the site has no Web Services token"}
	}
	c, err := t.client(s)
	if err != nil {
		return resp, &mih.SendError{Code: mih.ErrRequest, Message: mih.ErrorMessage(err)}
	}
	params, err := decodeParams(r.Body)
	if err != nil {
		return resp, &mih.SendError{Code: mih.ErrRequest, Message: err.Error()}
	}
	if err := resolve(ctx, c, params); err != nil {
		resp.Latency = time.Since(start)
		return resp, err
	}
	var answer json.RawMessage
	err = c.Call(ctx, r.Path, params, &answer)
	resp.Latency = time.Since(start)
	if e, ok := errors.AsType[*moodle.Error](err); ok && e.Kind == moodle.KindException && e.ErrorCode == ErrCodeMessageNotSent {
		// Moodle sends the notifications of a call (a welcome message on enrolment) after its
		// transaction committed, and reports a failed e-mail as this exception: the call's
		// work is done, and sending it again would only repeat the failed message.
		resp.Status = http.StatusOK
		resp.Body = []byte(fmt.Sprintf(`{"exception":%q,"errorcode":%q,"message":%q,"note":"the call's changes were committed; only its notification failed"}`,
			e.Exception, e.ErrorCode, e.Message))
		return resp, nil
	}
	if err != nil {
		return resp, classify(resp, err)
	}
	resp.Status = http.StatusOK
	resp.Body = answer
	if len(resp.Body) > MaxBody {
		resp.Body, resp.Truncated = resp.Body[:MaxBody], true
	}
	if w := warnings(answer); w != "" {
		return resp, &mih.SendError{Code: ErrWarning, Status: http.StatusOK, Message: "Moodle skipped items: " + w}
	}
	return resp, nil
}

func decodeParams(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("the parameters are not a JSON object")
	}
	return m, nil
}

// classify turns a client failure into the ledger's terms.
func classify(resp *mih.Response, err error) error {
	e, ok := errors.AsType[*moodle.Error](err)
	if !ok {
		return &mih.SendError{Code: mih.ErrNetwork, Retryable: true, Message: err.Error(), Err: err}
	}
	resp.Status = e.Status
	se := &mih.SendError{Status: e.Status, Retryable: e.Retryable(), Message: mih.ErrorMessage(err), Err: err}
	switch e.Kind {
	case moodle.KindException:
		se.Code = ErrException
		se.Status = http.StatusOK
		resp.Status = http.StatusOK
		se.Message = e.ErrorCode + ": " + e.Message
		if e.DebugInfo != "" {
			se.Message += " (" + e.DebugInfo + ")"
		}
		resp.Body = []byte(fmt.Sprintf(`{"exception":%q,"errorcode":%q,"message":%q}`, e.Exception, e.ErrorCode, e.Message))
	case moodle.KindTimeout:
		se.Code = mih.ErrTimeout
	case moodle.KindNetwork:
		se.Code = mih.ErrNetwork
	case moodle.KindRequest:
		se.Code = mih.ErrRequest
	default:
		se.Code = mih.ErrHTTP
	}
	return se
}

// warnings reads a top-level "warnings" list of an answer, as text ("" when there is none).
func warnings(answer []byte) string {
	var w struct {
		Warnings []struct {
			Item        string          `json:"item"`
			ItemID      json.RawMessage `json:"itemid"`
			WarningCode string          `json:"warningcode"`
			Message     string          `json:"message"`
		} `json:"warnings"`
	}
	if json.Unmarshal(answer, &w) != nil || len(w.Warnings) == 0 {
		return ""
	}
	parts := make([]string, len(w.Warnings))
	for i, x := range w.Warnings {
		parts[i] = fmt.Sprintf("%s %s %s: %s", x.Item, x.ItemID, x.WarningCode, x.Message)
	}
	return strings.Join(parts, "; ")
}

// resolve replaces $user and $course references in params by the records' ids.
func resolve(ctx context.Context, c *moodle.Client, v any) error {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			id, ok, err := reference(ctx, c, x)
			if err != nil {
				return err
			}
			if ok {
				t[k] = id
				continue
			}
			if err := resolve(ctx, c, x); err != nil {
				return err
			}
		}
	case []any:
		for i, x := range t {
			id, ok, err := reference(ctx, c, x)
			if err != nil {
				return err
			}
			if ok {
				t[i] = id
				continue
			}
			if err := resolve(ctx, c, x); err != nil {
				return err
			}
		}
	}
	return nil
}

// reference resolves v when it is a reference object, and reports whether it was one.
func reference(ctx context.Context, c *moodle.Client, v any) (json.Number, bool, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false, nil
	}
	for kind, q := range m {
		if kind != "$user" && kind != "$course" {
			return "", false, nil
		}
		qm, ok := q.(map[string]any)
		if !ok || len(qm) != 1 {
			return "", true, &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf(`%s: want one field and its value, like {"%s": {"username": "jdoe"}}`, kind, kind)}
		}
		for field, val := range qm {
			value := fmt.Sprint(val)
			id, found, err := lookup(ctx, c, kind, field, value)
			if err != nil {
				return "", true, classify(&mih.Response{}, err)
			}
			if !found {
				return "", true, &mih.SendError{Code: ErrReference, Retryable: true,
					Message: fmt.Sprintf("no Moodle %s with %s %q (yet)", strings.TrimPrefix(kind, "$"), field, value)}
			}
			return json.Number(strconv.FormatInt(id, 10)), true, nil
		}
	}
	return "", false, nil
}

func lookup(ctx context.Context, c *moodle.Client, kind, field, value string) (int64, bool, error) {
	if kind == "$user" {
		users, err := c.UsersByField(ctx, field, []string{value})
		if err != nil || len(users) == 0 {
			return 0, false, err
		}
		return users[0].ID, true, nil
	}
	courses, err := c.CoursesByField(ctx, field, value)
	if err != nil || len(courses) == 0 {
		return 0, false, err
	}
	return courses[0].ID, true, nil
}
