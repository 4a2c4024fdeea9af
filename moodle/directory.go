package moodle

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/mihhub/mih"
)

// Defaults of DirectoryOptions.
const (
	DefaultDirectorySize = 10000
	DefaultDirectoryTTL  = 5 * time.Minute
	DefaultNegativeTTL   = 30 * time.Second
)

// DirectoryOptions tunes a Directory. The zero value is usable.
type DirectoryOptions struct {
	// Size is the most users and courses kept; the least recently used go first (default
	// 10,000).
	Size int
	// TTL is how long a user or course is kept: a change in Moodle shows within it (default
	// 5 minutes).
	TTL time.Duration
	// NegativeTTL is how long "does not exist" is kept, shorter, since a user created in
	// Moodle right after an event should appear soon (default 30 s).
	NegativeTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Directory resolves the users and courses that events refer to, for enrichment (docs/moodle.md,
// Enrichment): templates see user.email, course.fullname and the like. It keeps what it found in a
// bounded LRU cache with a TTL, keeps "does not exist" for a shorter time, and collapses concurrent
// lookups of one user or course into a single call. Failed calls are not cached.
//
// A lookup returns the user or course as a map shaped for templates (numbers as json.Number,
// as template.Scope expects); maps are shared between callers and must not be modified. A user
// or course that does not exist is a *mih.Error of CodeNotFound, so that callers render null;
// any other failure (network, timeout, 5xx, a refused token) is a *mih.Error of
// CodeUnavailable wrapping the *Error, which the delivery worker retries.
//
// A Directory is safe for concurrent use.
type Directory struct {
	client *Client
	cache  *lru.Cache[dirKey, dirEntry]
	ttl    time.Duration
	negTTL time.Duration
	now    func() time.Time
	group  singleflight.Group

	hits, notFoundHits, misses, calls, failures atomic.Uint64
}

type dirKey struct {
	kind byte // 'u' user, 'c' course
	id   int64
}

func (k dirKey) String() string { return string(k.kind) + strconv.FormatInt(k.id, 10) }

type dirEntry struct {
	value   map[string]any // nil: does not exist
	expires time.Time
}

// DirectoryStats counts a Directory's lookups since it was made.
type DirectoryStats struct {
	Hits         uint64 // answered from the cache with a user or course
	NotFoundHits uint64 // answered from the cache with "does not exist"
	Misses       uint64 // had to ask Moodle (or wait for a lookup of the same key)
	Calls        uint64 // calls made to Moodle; Misses - Calls were collapsed into others
	Errors       uint64 // calls that failed
	Entries      int    // users and courses in the cache now
}

// NewDirectory returns a Directory over a site's client.
func NewDirectory(c *Client, opts DirectoryOptions) *Directory {
	if opts.Size <= 0 {
		opts.Size = DefaultDirectorySize
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultDirectoryTTL
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = DefaultNegativeTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cache, err := lru.New[dirKey, dirEntry](opts.Size)
	if err != nil {
		panic(err) // only for a size <= 0, which cannot happen here
	}
	return &Directory{client: c, cache: cache, ttl: opts.TTL, negTTL: opts.NegativeTTL, now: opts.Now}
}

// User returns the user with Moodle id id: id, username, email, firstname, lastname, fullname,
// idnumber, department, institution, city, country, lang, timezone, auth, suspended,
// confirmed, firstaccess, lastaccess, profileimageurl, and customfields (shortname → value).
// Ids of 0 and below (Moodle's "nobody" and "other user") do not exist.
func (d *Directory) User(ctx context.Context, id int64) (map[string]any, error) {
	return d.lookup(ctx, dirKey{'u', id}, "user", func(ctx context.Context) (map[string]any, error) {
		u, found, err := d.client.userByID(ctx, id)
		if !found || err != nil {
			return nil, err
		}
		return userMap(u), nil
	})
}

// Course returns the course with Moodle id id: id, shortname, fullname, displayname,
// idnumber, category (its id), categoryname, summary, format, startdate, enddate, visible
// (1 or 0), lang, timecreated, timemodified, and customfields (shortname → value).
func (d *Directory) Course(ctx context.Context, id int64) (map[string]any, error) {
	return d.lookup(ctx, dirKey{'c', id}, "course", func(ctx context.Context) (map[string]any, error) {
		c, found, err := d.client.courseByID(ctx, id)
		if !found || err != nil {
			return nil, err
		}
		return courseMap(c), nil
	})
}

// ForgetUser drops a user from the cache, when an event says the user changed.
func (d *Directory) ForgetUser(id int64) { d.cache.Remove(dirKey{'u', id}) }

// ForgetCourse drops a course from the cache, when an event says the course changed.
func (d *Directory) ForgetCourse(id int64) { d.cache.Remove(dirKey{'c', id}) }

// Stats reports the counters.
func (d *Directory) Stats() DirectoryStats {
	return DirectoryStats{
		Hits:         d.hits.Load(),
		NotFoundHits: d.notFoundHits.Load(),
		Misses:       d.misses.Load(),
		Calls:        d.calls.Load(),
		Errors:       d.failures.Load(),
		Entries:      d.cache.Len(),
	}
}

func (d *Directory) lookup(ctx context.Context, key dirKey, what string, load func(context.Context) (map[string]any, error)) (map[string]any, error) {
	notFound := func() error { return mih.Errorf(mih.CodeNotFound, "Moodle %s %d does not exist", what, key.id) }
	if key.id <= 0 {
		return nil, notFound()
	}
	if e, ok := d.cache.Get(key); ok && d.now().Before(e.expires) {
		if e.value == nil {
			d.notFoundHits.Add(1)
			return nil, notFound()
		}
		d.hits.Add(1)
		return e.value, nil
	}
	d.misses.Add(1)

	// The call runs without the first caller's cancellation, so that a caller giving up does
	// not fail the others waiting for the same key; the client's timeout still bounds it.
	ch := d.group.DoChan(key.String(), func() (any, error) {
		d.calls.Add(1)
		v, err := load(context.WithoutCancel(ctx))
		if err != nil {
			d.failures.Add(1)
			return nil, err
		}
		ttl := d.ttl
		if v == nil {
			ttl = d.negTTL
		}
		d.cache.Add(key, dirEntry{value: v, expires: d.now().Add(ttl)})
		return v, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, mih.WrapError(mih.CodeUnavailable, r.Err, "look up Moodle %s %d: %s", what, key.id, mih.ErrorMessage(r.Err))
		}
		v, _ := r.Val.(map[string]any)
		if v == nil {
			return nil, notFound()
		}
		return v, nil
	case <-ctx.Done():
		return nil, mih.WrapError(mih.CodeUnavailable, ctx.Err(), "look up Moodle %s %d: gave up waiting", what, key.id)
	}
}

func num(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

func userMap(u *User) map[string]any {
	custom := make(map[string]any, len(u.CustomFields))
	for _, f := range u.CustomFields {
		custom[f.ShortName] = f.Value
	}
	return map[string]any{
		"id":              num(u.ID),
		"username":        u.Username,
		"email":           u.Email,
		"firstname":       u.FirstName,
		"lastname":        u.LastName,
		"fullname":        u.FullName,
		"idnumber":        u.IDNumber,
		"department":      u.Department,
		"institution":     u.Institution,
		"city":            u.City,
		"country":         u.Country,
		"lang":            u.Lang,
		"timezone":        u.Timezone,
		"auth":            u.Auth,
		"suspended":       u.Suspended,
		"confirmed":       u.Confirmed,
		"firstaccess":     num(u.FirstAccess),
		"lastaccess":      num(u.LastAccess),
		"profileimageurl": u.ProfileImageURL,
		"customfields":    custom,
	}
}

func courseMap(c *Course) map[string]any {
	custom := make(map[string]any, len(c.CustomFields))
	for _, f := range c.CustomFields {
		custom[f.ShortName] = f.Value
	}
	visible := num(0)
	if c.Visible {
		visible = num(1)
	}
	return map[string]any{
		"id":           num(c.ID),
		"shortname":    c.ShortName,
		"fullname":     c.FullName,
		"displayname":  c.DisplayName,
		"idnumber":     c.IDNumber,
		"category":     num(c.CategoryID),
		"categoryname": c.CategoryName,
		"summary":      c.Summary,
		"format":       c.Format,
		"startdate":    num(c.StartDate),
		"enddate":      num(c.EndDate),
		"visible":      visible,
		"lang":         c.Lang,
		"timecreated":  num(c.TimeCreated),
		"timemodified": num(c.TimeModified),
		"customfields": custom,
	}
}
