package rule

import (
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// FuzzFilter: any filter text either is refused when the rule is saved, or evaluates on a real
// event within its budget, without a panic.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`courseid == 5 && crud == "c"`,
		`len(repeat(repeat("ab",100000),10000)) > 0`,
		`all(1..999, all(1..999, # > 0))`,
		`len(reduce(1..40, #acc + #acc, "ab")) > 0`,
		`other.items[0] ?? false`,
		`join(map(1..10, string(#)), ",") contains "3"`,
		`replace(ip, ".", repeat("x", 100)) != ""`,
	} {
		f.Add(s)
	}
	env := FilterEnv(mustData(MockEvent(`\core\event\user_created`)))
	f.Fuzz(func(t *testing.T, filter string) {
		ru := mih.NewRule()
		ru.Event, ru.Service, ru.Filter, ru.Template = `\core\event\user_created`, "s", filter, `{}`
		c, err := Compile(ru)
		if err != nil {
			return
		}
		start := time.Now()
		c.Matches(env)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("filter %q ran %s", filter, d)
		}
	})
}

func mustData(ev *mih.Event) map[string]any {
	d, err := ev.Data()
	if err != nil {
		panic(err)
	}
	return d
}
