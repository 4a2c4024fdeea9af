package http

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the gatherer's metrics in the Prometheus exposition format.
func metricsHandler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: promLogger{logger}})
}

// promLogger passes promhttp's gathering errors to the server's logger.
type promLogger struct{ logger *slog.Logger }

func (l promLogger) Println(v ...any) { l.logger.Error("gather metrics", "err", fmt.Sprint(v...)) }
