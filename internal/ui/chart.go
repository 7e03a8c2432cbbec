package ui

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// series is one named row of a chart's values, one per day. A negative
// value is no value (a gap in a line).
type series struct {
	Name   string
	Values []float64
}

func seriesOf(names []string, values [][]int) []series {
	out := make([]series, len(names))
	for i, n := range names {
		out[i].Name = n
		for _, v := range values[i] {
			out[i].Values = append(out[i].Values, float64(v))
		}
	}
	return out
}

// The drawing area of every chart, in the SVG's own units; the SVG scales
// to the width of its container.
const (
	chartWidth, chartHeight = 720, 180
	left, bottom, top       = 44, 22, 8
	plotWidth, plotHeight   = chartWidth - left - 8, chartHeight - bottom - top
)

// stackedBars draws one bar per day, the series stacked in order. Each
// segment names its day, series and value (a tooltip, and what a screen
// reader reads); the legend is HTML next to it.
func stackedBars(title string, days []time.Time, rows []series) template.HTML {
	peak := 0.0
	for d := range days {
		sum := 0.0
		for _, s := range rows {
			sum += s.Values[d]
		}
		peak = max(peak, sum)
	}
	var b strings.Builder
	open(&b, title, summary(days, rows))
	axes(&b, days, niceMax(peak), "")
	slot := float64(plotWidth) / float64(len(days))
	scale := float64(plotHeight) / niceMax(peak)
	for d, day := range days {
		y := float64(top + plotHeight)
		for _, s := range rows {
			v := s.Values[d]
			if v <= 0 {
				continue
			}
			h := v * scale
			y -= h
			fmt.Fprintf(&b, `<rect class="s-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s %g</title></rect>`,
				s.Name, left+float64(d)*slot+slot*0.15, y, slot*0.7, h, day.Format("Jan 2"), html.EscapeString(s.Name), v)
		}
	}
	return closeChart(&b, rows)
}

// percentLines draws each series as a line over 0–100%, broken where a
// day has no value.
func percentLines(title string, days []time.Time, rows []series) template.HTML {
	var b strings.Builder
	open(&b, title, summary(days, rows))
	axes(&b, days, 100, "%")
	slot := float64(plotWidth) / float64(len(days))
	for _, s := range rows {
		var path strings.Builder
		pen := "M"
		for d, v := range s.Values {
			if v < 0 {
				pen = "M"
				continue
			}
			x, y := left+float64(d)*slot+slot/2, float64(top+plotHeight)-v/100*plotHeight
			fmt.Fprintf(&path, "%s%.1f %.1f ", pen, x, y)
			pen = "L"
			fmt.Fprintf(&b, `<circle class="s-%s" cx="%.1f" cy="%.1f" r="3"><title>%s: %s %.0f%%</title></circle>`, s.Name, x, y, days[d].Format("Jan 2"), html.EscapeString(s.Name), v)
		}
		if path.Len() > 0 {
			fmt.Fprintf(&b, `<path class="l-%s" d="%s"/>`, s.Name, strings.TrimSpace(path.String()))
		}
	}
	return closeChart(&b, rows)
}

func open(b *strings.Builder, title, desc string) {
	fmt.Fprintf(b, `<figure class="chart"><svg viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title><desc>%s</desc>`,
		chartWidth, chartHeight, html.EscapeString(title), html.EscapeString(title), html.EscapeString(desc))
}

func closeChart(b *strings.Builder, rows []series) template.HTML {
	b.WriteString(`</svg><figcaption><ul class="legend">`)
	for _, s := range rows {
		fmt.Fprintf(b, `<li><span class="swatch s-%s"></span>%s</li>`, s.Name, html.EscapeString(s.Name))
	}
	b.WriteString(`</ul></figcaption></figure>`)
	return template.HTML(b.String()) // built here from escaped text and numbers
}

// axes draws the value gridlines (0, half, top) and the first, middle and
// last day.
func axes(b *strings.Builder, days []time.Time, peak float64, unit string) {
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(top+plotHeight) - f*plotHeight
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="axis" x="%d" y="%.1f" text-anchor="end">%g%s</text>`,
			left, left+plotWidth, y, y, left-6, y+4, f*peak, unit)
	}
	slot := float64(plotWidth) / float64(len(days))
	for _, d := range []int{0, len(days) / 2, len(days) - 1} {
		fmt.Fprintf(b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, left+float64(d)*slot+slot/2, chartHeight-6, days[d].Format("Jan 2"))
	}
}

// niceMax rounds a chart's peak up to 1, 2 or 5 times a power of ten, so
// that the half gridline is a round number too.
func niceMax(peak float64) float64 {
	if peak <= 0 {
		return 1
	}
	for step := 1.0; ; step *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if peak <= m*step {
				return m * step
			}
		}
	}
}

// summary says in words what a chart shows: each series' latest value
// and total, for screen readers.
func summary(days []time.Time, rows []series) string {
	var parts []string
	for _, s := range rows {
		total, last := 0.0, -1.0
		for _, v := range s.Values {
			if v >= 0 {
				total += v
				last = v
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %g in all, %g on the last day with a value", s.Name, total, max(last, 0)))
	}
	return fmt.Sprintf("%s to %s. %s.", days[0].Format("Jan 2"), days[len(days)-1].Format("Jan 2"), strings.Join(parts, "; "))
}
