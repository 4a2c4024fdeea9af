package rule

import (
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// TestCompile_RunawayFiltersRefused: filters that would stall ingest are refused when saved,
// with a message that says why; ordinary filters using the same builtins are not.
func TestCompile_RunawayFiltersRefused(t *testing.T) {
	for _, f := range []string{
		`len(repeat(repeat("ab",100000),10000)) > 0`,
		`len(reduce(1..40, #acc + #acc, "ab")) > 0`,
		`len(replace(repeat("a", 1000), "a", repeat("b", 1000))) > 0`,
		`len(join(map(1..1000, repeat("x", 1000)), "")) > 0`,
		`all(1..999, all(1..999, # > 0))`,
	} {
		t.Run(f, func(t *testing.T) {
			ru := mih.NewRule()
			ru.Event, ru.Service, ru.Filter, ru.Template = `\core\event\user_created`, "s", f, `{}`
			start := time.Now()
			_, err := Compile(ru)
			if mih.ErrorCode(err) != mih.CodeInvalid || !strings.Contains(mih.ErrorMessage(err), "filter: refused") {
				t.Fatalf("got %v, want the filter refused", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusing took %s", d)
			}
		})
	}
	for _, f := range []string{
		`courseid == 5 || repeat("a", 3) == "aaa"`,
		`join(["a", "b"], ",") == "a,b" && replace("ab", "b", "c") == "ac"`,
		`any(1..10, # == userid) || true`,
	} {
		ru := mih.NewRule()
		ru.Event, ru.Service, ru.Filter, ru.Template = `\core\event\user_created`, "s", f, `{}`
		c, err := Compile(ru)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if ok, err := c.Matches(map[string]any{"courseid": int64(5), "userid": int64(3)}); err != nil || !ok {
			t.Errorf("%s: got %v %v, want a match", f, ok, err)
		}
	}
}

// TestMatches_BoundedAtRunTime: a filter that passes on the sample event but runs away on a real
// one (a long array in other) stops at its step limit instead of stalling ingest.
func TestMatches_BoundedAtRunTime(t *testing.T) {
	ru := mih.NewRule()
	ru.Event, ru.Service, ru.Template = `\core\event\user_created`, "s", `{}`
	ru.Filter = `all(other.items ?? [], all(other.items, # >= 0))`
	c, err := Compile(ru)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 2000)
	for i := range items {
		items[i] = int64(i)
	}
	start := time.Now()
	_, err = c.Matches(map[string]any{"other": map[string]any{"items": items}})
	if !overBudget(err) {
		t.Fatalf("got %v, want the run stopped by its budget", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping took %s", d)
	}
}
