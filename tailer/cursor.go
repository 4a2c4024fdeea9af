package tailer

import (
	"encoding/json"
	"fmt"
	"time"
)

// gap is a log id below the cursor that was missing when the rows around it were read: a row
// whose transaction had not committed yet (it will show up), or an id that will never be used (a
// rolled-back insert, a sequence that skipped ahead). since is when it was first missed.
type gap struct {
	id    int64
	since time.Time
}

// position is where a tailer stands: every id up to cursor has been handed to the sink, except
// the gaps, which are still awaited.
type position struct {
	cursor int64
	gaps   []gap // ascending ids, all below cursor
}

// savedState is the JSON kept in the meta store under stateKey(site).
type savedState struct {
	Version int    `json:"version"`
	Source  string `json:"source"` // the database the cursor belongs to
	Cursor  int64  `json:"cursor"`
	// Gaps are runs of consecutive missing ids first missed at the same second:
	// [first id, last id, Unix second].
	Gaps [][3]int64 `json:"gaps,omitempty"`
	// Start is the tail_from the position was first set from: when the site's tail_from
	// changes, the tailer moves to the new starting point (empty in states saved before it was
	// recorded: kept as they are).
	Start string `json:"start,omitempty"`
}

const stateVersion = 1

// stateKey is the meta key of a site's tailer state.
func stateKey(site string) string { return "logstore:" + site }

func (p *position) marshal(source, start string) (string, error) {
	st := savedState{Version: stateVersion, Source: source, Cursor: p.cursor, Start: start}
	for _, g := range p.gaps {
		sec := g.since.Unix()
		if n := len(st.Gaps); n > 0 && st.Gaps[n-1][1] == g.id-1 && st.Gaps[n-1][2] == sec {
			st.Gaps[n-1][1] = g.id
			continue
		}
		st.Gaps = append(st.Gaps, [3]int64{g.id, g.id, sec})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// unmarshalPosition reads a saved state; limit bounds the gaps it expands (a damaged or edited
// state must not make the tailer allocate without bound).
func unmarshalPosition(s string, limit int) (savedState, position, error) {
	var st savedState
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, position{}, fmt.Errorf("saved tailer state: %w", err)
	}
	if st.Version != stateVersion {
		return st, position{}, fmt.Errorf("saved tailer state: version %d, want %d", st.Version, stateVersion)
	}
	p := position{cursor: st.Cursor}
	last := int64(-1 << 63)
	for _, r := range st.Gaps {
		if r[0] > r[1] || r[0] <= last || r[1] >= st.Cursor {
			return st, position{}, fmt.Errorf("saved tailer state: bad gap range %v", r)
		}
		last = r[1]
		for id := r[0]; id <= r[1]; id++ {
			p.gaps = append(p.gaps, gap{id: id, since: time.Unix(r[2], 0)})
			if len(p.gaps) > limit {
				return st, position{}, fmt.Errorf("saved tailer state: more than %d gaps", limit)
			}
		}
	}
	return st, p, nil
}

// holes returns the ids missing between the cursor and the ascending ids just read, at most
// limit of them (the highest: a hole wider than that is a sequence that jumped, not rows still
// being written, and its newest ids are the likeliest to be late). dropped counts the others.
func (p *position) holes(ids []int64, since time.Time, limit int) (gaps []gap, dropped int64) {
	prev := p.cursor
	var n int64
	for _, id := range ids {
		if id > prev+1 {
			n += id - prev - 1
		}
		prev = max(prev, id)
	}
	if n == 0 {
		return nil, 0
	}
	skip := max(0, n-int64(limit)) // the lowest ids that are not tracked
	dropped = skip
	gaps = make([]gap, 0, n-skip)
	prev = p.cursor
	for _, id := range ids {
		for m := prev + 1; m < id; m++ {
			if skip > 0 {
				// Jump over the whole part of this hole that is not tracked at once.
				k := min(skip, id-m)
				skip -= k
				m += k - 1
				continue
			}
			gaps = append(gaps, gap{id: m, since: since})
		}
		prev = max(prev, id)
	}
	return gaps, dropped
}

// advance moves the cursor to the last id read and adds the new gaps; when there are more than
// limit gaps, the oldest (lowest ids) are given up and counted.
func (p *position) advance(cursor int64, gaps []gap, limit int) (dropped int) {
	p.cursor = max(p.cursor, cursor)
	p.gaps = append(p.gaps, gaps...)
	if over := len(p.gaps) - limit; over > 0 {
		p.gaps = append(p.gaps[:0], p.gaps[over:]...)
		return over
	}
	return 0
}

// settle removes the gaps whose ids were found, and those still missing whose deadline passed
// before the check began (so a row committed before the check was seen by it). It returns how
// many of each.
func (p *position) settle(found map[int64]bool, checkedAt time.Time, wait time.Duration) (late, expired int) {
	kept := p.gaps[:0]
	for _, g := range p.gaps {
		switch {
		case found[g.id]:
			late++
		case g.since.Add(wait).Before(checkedAt):
			expired++
		default:
			kept = append(kept, g)
		}
	}
	p.gaps = kept
	return late, expired
}

func (p *position) gapIDs() []int64 {
	ids := make([]int64, len(p.gaps))
	for i, g := range p.gaps {
		ids[i] = g.id
	}
	return ids
}
