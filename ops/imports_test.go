package ops_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The front ends are thin: parse, call ops, render. This test fails when the JSON API or the web
// UI depends, directly or through another package, on the other front end, the log store tailer,
// a transport, a store implementation or a database or broker driver: what they would need one
// for belongs in ops.
func TestFrontEndImports(t *testing.T) {
	const mod = "github.com/mihhub/mih/"
	forbidden := []string{
		mod + "tailer",
		mod + "transport/",
		mod + "store/",
		mod + "cmd/",
		"github.com/rabbitmq/amqp091-go",
		"github.com/jackc/pgx",
		"github.com/go-sql-driver/mysql",
		"modernc.org/sqlite",
		"github.com/mattn/go-sqlite3",
	}
	for front, other := range map[string]string{"http": "web", "web": "http"} {
		out, err := exec.Command("go", "list", "-deps", mod+front).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", front, err)
		}
		for dep := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
			bad := dep == mod+other
			for _, f := range forbidden {
				bad = bad || strings.HasPrefix(dep, f)
			}
			if bad {
				t.Errorf("package %s depends on %s; front ends go through package ops", front, dep)
			}
		}
	}
}
