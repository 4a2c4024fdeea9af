package web

import "testing"

// FuzzAMQPURL: the service form's AMQP builder reads any stored URL or says it cannot, and what
// it reads builds a URL that reads back the same.
func FuzzAMQPURL(f *testing.F) {
	for _, s := range []string{
		"amqp://hub:pw@127.0.0.1:5672/vh?exchange=events&routing_key=k",
		"amqps://u:p%40ss@[::1]/%2F?queue=q&dlq=q.dead",
		"amqp://h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := splitAMQP(raw)
		if err != nil {
			return
		}
		u, err := p.url()
		if err != nil {
			return
		}
		q, err := splitAMQP(u)
		if err != nil || q != p {
			t.Fatalf("%q → %+v → %q → %+v, %v", raw, p, u, q, err)
		}
	})
}

// FuzzLocalPath: the page after signing in is a path of the hub whatever next says.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/rules", "//evil", "/\t/evil", "/\\evil", "https://evil", "/a?b=//c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		p := localPath(next)
		if p == "" || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
			t.Fatalf("localPath(%q) = %q", next, p)
		}
		for _, r := range p {
			if r < ' ' || r == 0x7f || r == '\\' {
				t.Fatalf("localPath(%q) = %q", next, p)
			}
		}
	})
}
