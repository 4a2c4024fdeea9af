package http

import (
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"

	"github.com/mihhub/mih"
)

// profileHandler serves the Go runtime's profiles of the running hub behind the API's token, so
// an operator can see where a busy hub spends its CPU or holds its memory without restarting it
// with other flags:
//
//	curl -H "Authorization: Bearer $TOKEN" -o cpu.pprof 'http://127.0.0.1:8080/debug/pprof/profile?seconds=30'
//	go tool pprof -top cpu.pprof
//
// profile is a CPU profile over ?seconds= (default 30), trace an execution trace; every other
// name is one of runtime/pprof's profiles (heap, allocs, goroutine, mutex, block, threadcreate).
func profileHandler(w http.ResponseWriter, r *http.Request) error {
	switch name := r.PathValue("profile"); name {
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		if rpprof.Lookup(name) == nil {
			return mih.Errorf(mih.CodeNotFound, "no profile %q (want profile, trace, heap, allocs, goroutine, mutex, block or threadcreate)", name)
		}
		pprof.Handler(name).ServeHTTP(w, r)
	}
	return nil
}
