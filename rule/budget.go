package rule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Limits of one filter evaluation. A filter runs in ingest, once per event and rule, before
// the event is acknowledged: a filter that loops or builds huge strings would stall every ingest
// call. expr bounds the AST's size at compile time and the elements its ranges and arrays
// allocate at run time (its memory budget of 1e6), but not the time spent in loops over an
// event's own arrays nor the strings built by repeat, replace, join or `+` in reduce; these are
// bounded here.
const (
	// FilterMaxSteps bounds the predicate evaluations (one per element of all, any, filter,
	// map, reduce, …) of one run: a real filter looks at a few dozen elements.
	FilterMaxSteps = 100_000
	// FilterMaxString bounds each string a filter builds.
	FilterMaxString = 64 << 10
	// FilterTimeout bounds the wall time of one run; ingest renders in microseconds.
	FilterTimeout = 50 * time.Millisecond
	// filterMaxNodes bounds the AST (expr's default is 10,000): a filter is a condition a person
	// writes in one field.
	filterMaxNodes = 1000
)

// budgetError is a filter run stopped by the limits above; reason says which, for the author.
type budgetError struct{ reason string }

func (e *budgetError) Error() string { return "filter " + e.reason }

// budgetVar is the environment entry through which the predicates of a run reach its budget.
// It cannot clash with an event field: Moodle's fields never start with an underscore.
const budgetVar = "__mih_budget"

// budget is the state of one run.
type budget struct {
	steps    int
	deadline time.Time
}

// tick is called around every predicate body: it counts the step, checks the time every so
// often, and bounds a string the predicate produced (reduce's accumulator).
func tick(params ...any) (any, error) {
	b, ok := params[0].(*budget)
	if !ok {
		return nil, &budgetError{budgetVar + " is reserved"}
	}
	b.steps++
	if b.steps > FilterMaxSteps {
		return nil, &budgetError{fmt.Sprintf("takes more than %d steps", FilterMaxSteps)}
	}
	if b.steps%256 == 0 && time.Now().After(b.deadline) {
		return nil, &budgetError{fmt.Sprintf("runs longer than %s", FilterTimeout)}
	}
	if s, ok := params[1].(string); ok && len(s) > FilterMaxString {
		return nil, stringErr(len(s))
	}
	return params[1], nil
}

func stringErr(n int) error {
	return &budgetError{fmt.Sprintf("builds a string of %d bytes, more than %d", n, FilterMaxString)}
}

// tickPatcher wraps the body of every predicate in a call to tick.
type tickPatcher struct{}

func (tickPatcher) Visit(node *ast.Node) {
	p, ok := (*node).(*ast.PredicateNode)
	if !ok {
		return
	}
	p.Node = &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: "__mih_tick"},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: budgetVar}, p.Node},
	}
}

// filterOptions are the compile options of every filter: the step counter, and the builtins
// that build strings replaced by versions that check the size before they allocate.
func filterOptions() []expr.Option {
	return []expr.Option{
		expr.AllowUndefinedVariables(), expr.AsBool(), expr.MaxNodes(filterMaxNodes),
		expr.Function("__mih_tick", tick),
		expr.Patch(tickPatcher{}),
		expr.Function("repeat", func(params ...any) (any, error) {
			s, n, err := stringAndInt(params, "repeat")
			if err != nil {
				return nil, err
			}
			if n < 0 {
				return nil, fmt.Errorf("repeat: negative count %d", n)
			}
			if n > 0 && len(s) > FilterMaxString/n {
				return nil, stringErr(len(s) * min(n, 1<<20))
			}
			return strings.Repeat(s, n), nil
		}, strings.Repeat),
		expr.Function("replace", func(params ...any) (any, error) {
			if len(params) != 3 {
				return nil, fmt.Errorf("replace: want 3 arguments")
			}
			s, ok1 := params[0].(string)
			old, ok2 := params[1].(string)
			repl, ok3 := params[2].(string)
			if !ok1 || !ok2 || !ok3 {
				return nil, fmt.Errorf("replace: want strings")
			}
			n := strings.Count(s, old)
			if grow := len(repl) - len(old); grow > 0 && n > 0 && grow > (FilterMaxString-len(s))/n {
				return nil, stringErr(len(s) + min(n, 1<<20)*grow)
			}
			return strings.ReplaceAll(s, old, repl), nil
		}, strings.ReplaceAll),
		expr.Function("join", func(params ...any) (any, error) {
			if len(params) < 1 || len(params) > 2 {
				return nil, fmt.Errorf("join: want 1 or 2 arguments")
			}
			items, ok := params[0].([]any)
			if !ok {
				if ss, ok2 := params[0].([]string); ok2 {
					for _, s := range ss {
						items = append(items, s)
					}
				} else {
					return nil, fmt.Errorf("join: want an array of strings")
				}
			}
			glue := ""
			if len(params) == 2 {
				if glue, ok = params[1].(string); !ok {
					return nil, fmt.Errorf("join: want a string separator")
				}
			}
			var sb strings.Builder
			for i, it := range items {
				s, ok := it.(string)
				if !ok {
					return nil, fmt.Errorf("join: element %d is not a string", i)
				}
				if i > 0 {
					sb.WriteString(glue)
				}
				sb.WriteString(s)
				if sb.Len() > FilterMaxString {
					return nil, stringErr(sb.Len())
				}
			}
			return sb.String(), nil
		}, new(func([]any, string) string), new(func([]any) string)),
	}
}

func stringAndInt(params []any, name string) (string, int, error) {
	if len(params) != 2 {
		return "", 0, fmt.Errorf("%s: want 2 arguments", name)
	}
	s, ok := params[0].(string)
	if !ok {
		return "", 0, fmt.Errorf("%s: want a string", name)
	}
	switch n := params[1].(type) {
	case int:
		return s, n, nil
	case int64:
		return s, int(n), nil
	case float64:
		return s, int(n), nil
	}
	return "", 0, fmt.Errorf("%s: want an integer count", name)
}

// runFilter evaluates a filter under the limits above. env is not changed: the budget goes into
// a copy of its top level, which costs one small map per evaluated rule.
func runFilter(p *vm.Program, env map[string]any) (any, error) {
	e := make(map[string]any, len(env)+1)
	for k, v := range env {
		e[k] = v
	}
	e[budgetVar] = &budget{deadline: time.Now().Add(FilterTimeout)}
	return expr.Run(p, e)
}

// overBudget reports whether a filter run was stopped by its limits, or by expr's own memory
// budget.
func overBudget(err error) bool {
	_, ok := errors.AsType[*budgetError](err)
	// expr reports its own budget with an untyped error.
	return ok || err != nil && strings.Contains(err.Error(), "memory budget exceeded")
}

// budgetReason says which limit stopped a run.
func budgetReason(err error) string {
	if e, ok := errors.AsType[*budgetError](err); ok {
		return e.reason
	}
	return "allocates more than expr's memory budget"
}
