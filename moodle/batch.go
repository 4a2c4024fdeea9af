package moodle

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// batchLevelCodes are exceptions that say nothing about one item: splitting the batch would
// only repeat them.
var batchLevelCodes = map[string]bool{
	CodeInvalidToken: true, CodeAccessException: true, "servicerequireslogin": true,
	"usernotfullysetup": true, "requireloginerror": true,
}

// itemLevel reports whether a failed call may be down to one of its items, so that smaller
// batches would let the others through.
func itemLevel(e *Error) bool {
	if e.Kind != KindException || e.Retryable() || batchLevelCodes[e.ErrorCode] {
		return false
	}
	// An unknown function (an older Moodle) fails however the batch is split.
	return !(e.ErrorCode == CodeInvalidRecord && strings.Contains(e.Message, "external_functions"))
}

// inBatches sends items in calls of at most limit items that stay under max_input_vars (name
// is the parameter the items go in, to count their fields).
//
// The functions it serves run each call as one transaction, so a call that fails has changed
// nothing, and the batch can be sent again in halves: when Moodle refuses a batch with an
// exception that may concern one item, inBatches splits it until the refused items are
// alone, sends the rest, and reports the refused ones in a *BatchError. Any other failure —
// the token, the network, a timeout — ends the run at once and is returned as it is; the
// batches before it went through.
func inBatches[T any](ctx context.Context, c *Client, function, name string, items []T, limit int, call func(ctx context.Context, part []T) error) error {
	costs := make([]int, len(items))
	for i, it := range items {
		fields, err := flatten(map[string]any{name: []T{it}})
		if err != nil {
			return &Error{Function: function, Kind: KindRequest, Message: fmt.Sprintf("item %d: %v", i, err)}
		}
		costs[i] = len(fields)
	}
	budget := -1
	if c.maxVars > 0 {
		budget = c.maxVars - 3 // wstoken, wsfunction, moodlewsrestformat
	}

	if c.whole {
		used := 0
		for _, n := range costs {
			used += n
		}
		if budget >= 0 && used > budget {
			return &Error{Function: function, Kind: KindRequest, Message: fmt.Sprintf(
				"%d items have %d form fields, over the site's max_input_vars (%d)", len(items), used, c.maxVars)}
		}
		return call(ctx, items)
	}

	var refused []ItemError
	var send func(lo, hi int) error
	send = func(lo, hi int) error {
		err := call(ctx, items[lo:hi])
		if err == nil {
			return nil
		}
		e, ok := errors.AsType[*Error](err)
		if !ok || !itemLevel(e) {
			return err
		}
		if hi-lo == 1 {
			refused = append(refused, ItemError{Index: lo, Err: e})
			return nil
		}
		mid := lo + (hi-lo)/2
		if err := send(lo, mid); err != nil {
			return err
		}
		return send(mid, hi)
	}

	for start := 0; start < len(items); {
		end, used := start, 0
		for end < len(items) && end-start < limit && (budget < 0 || used+costs[end] <= budget) {
			used += costs[end]
			end++
		}
		if end == start {
			return &Error{Function: function, Kind: KindRequest, Message: fmt.Sprintf(
				"item %d alone has %d form fields, over the site's max_input_vars (%d)", start, costs[start], c.maxVars)}
		}
		if err := send(start, end); err != nil {
			return err
		}
		start = end
	}
	if len(refused) > 0 {
		return &BatchError{Function: function, Items: refused}
	}
	return nil
}

// Fields is how many form fields one item takes in a call whose items go in the parameter name
// (courses, enrolments, assignments…): what counts against max_input_vars.
func Fields[T any](name string, item T) (int, error) {
	fields, err := flatten(map[string]any{name: []T{item}})
	if err != nil {
		return 0, err
	}
	return len(fields), nil
}
