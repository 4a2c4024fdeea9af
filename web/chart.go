package web

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// The dashboard's two charts are SVG drawn here and written by the templates: no chart library,
// no script. Each has a title and a description for screen readers, and the figures are also in
// the page as text, so nothing rests on the drawing alone.

// statusChart is a ring: the succeeded share of the calls in green over the failed share in red.
type statusChart struct {
	Success, Failure, Total int
	// SuccessPct is the succeeded share, rounded down so that 99.6 % never reads as 100 %.
	SuccessPct int
	// Dash is the stroke-dasharray of the success arc on a circle of circumference Circ.
	Dash string
	Circ string
}

// ringRadius is the ring's radius in the SVG's 120×120 view box.
const ringRadius = 48.0

func newStatusChart(success, failure int) statusChart {
	c := statusChart{Success: success, Failure: failure, Total: success + failure}
	circ := 2 * math.Pi * ringRadius
	c.Circ = num(circ)
	if c.Total == 0 {
		c.Dash = "0 " + num(circ)
		return c
	}
	share := float64(success) / float64(c.Total)
	c.SuccessPct = int(math.Floor(share * 100))
	c.Dash = num(share*circ) + " " + num(circ)
	return c
}

// latencyChart is a line of the newest calls' latencies, oldest on the left, failed calls marked.
type latencyChart struct {
	Count int
	// Line is the polyline's points in the view box; Failed are the failed calls' points.
	Line   string
	Failed []chartPoint
	// Dots marks the succeeded calls too while there are few, so that a single call shows.
	Dots []chartPoint
	// Ticks are the horizontal grid lines with their labels, from 0 up.
	Ticks    []chartTick
	From, To time.Time
	// Left and Right are the plot's edges in the view box, for the grid and the labels.
	Left, Right, LabelX string
	Median              string
	P95                 string
	Max                 string
}

type chartPoint struct {
	X, Y  string
	Label string
}

type chartTick struct {
	Y     string
	Label string
}

// dotsUpTo is how many calls the latency chart marks each one of.
const dotsUpTo = 60

// The latency chart's view box: 640×200, with room on the left for the axis labels.
const (
	plotLeft   = 64.0
	plotRight  = 632.0
	plotTop    = 10.0
	plotBottom = 180.0
)

// newLatencyChart draws entries, given newest first as the log returns them.
func newLatencyChart(entries []*mih.LogEntry) latencyChart {
	c := latencyChart{Count: len(entries), Left: num(plotLeft), Right: num(plotRight), LabelX: num(plotLeft - 6)}
	if len(entries) == 0 {
		return c
	}
	lat := make([]float64, len(entries))
	for i, e := range entries {
		lat[i] = e.LatencyMS
	}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	c.Median = formatMS(percentile(sorted, 0.5))
	c.P95 = formatMS(percentile(sorted, 0.95))
	c.Max = formatMS(sorted[len(sorted)-1])
	top := niceCeil(sorted[len(sorted)-1])
	for i := range 3 {
		v := top * float64(i) / 2
		c.Ticks = append(c.Ticks, chartTick{Y: num(y(v, top)), Label: formatTick(v)})
	}
	c.From, c.To = entries[len(entries)-1].Time, entries[0].Time
	var pts strings.Builder
	n := len(entries)
	for i := range n {
		e := entries[n-1-i] // oldest first, left to right
		x := plotLeft
		if n > 1 {
			x += (plotRight - plotLeft) * float64(i) / float64(n-1)
		}
		py := y(e.LatencyMS, top)
		if i > 0 {
			pts.WriteByte(' ')
		}
		pts.WriteString(num(x) + "," + num(py))
		if e.Success && n <= dotsUpTo {
			c.Dots = append(c.Dots, chartPoint{X: num(x), Y: num(py), Label: e.Service + " " + e.Time.UTC().Format("15:04:05") + ": " + formatMS(e.LatencyMS)})
		}
		if !e.Success {
			label := e.Service + " " + e.Time.UTC().Format("15:04:05") + ": " + formatMS(e.LatencyMS) + ", failed"
			if e.Status != 0 {
				label += " (status " + strconv.Itoa(e.Status) + ")"
			}
			c.Failed = append(c.Failed, chartPoint{X: num(x), Y: num(py), Label: label})
		}
	}
	c.Line = pts.String()
	return c
}

func y(v, top float64) float64 {
	if top <= 0 {
		return plotBottom
	}
	return plotBottom - (plotBottom-plotTop)*min(max(v, 0), top)/top
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten, so the axis reads easily.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(ms float64) string {
	if ms >= 1000 {
		return strconv.FormatFloat(ms/1000, 'f', -1, 64) + " s"
	}
	return strconv.FormatFloat(ms, 'f', -1, 64) + " ms"
}

// num writes a coordinate with two decimals at most.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }
