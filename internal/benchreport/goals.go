package benchreport

import "fmt"

// Goal is a target of issue 9 and how one measured figure fares against it.
type Goal struct {
	// Figure names what was measured.
	Figure string
	// Measured is the figure, as shown; Value its number (NaN: not
	// measured, with Why).
	Measured string
	Value    float64
	// Baseline is the same-run baseline, as shown ("" for none).
	Baseline string
	// Target is the goal's number; AtMost makes it a limit ("< Target")
	// instead of a floor ("≥ Target"). Text shows the goal.
	Target float64
	AtMost bool
	Text   string
	// Why explains a missing figure.
	Why string
	// Section is the id of the report section with the details.
	Section string
}

// Met reports whether the goal is met (false when not measured).
func (g Goal) Met() bool {
	if g.Value != g.Value { // NaN
		return false
	}
	if g.AtMost {
		return g.Value < g.Target
	}
	return g.Value >= g.Target
}

// Verdict is "MET" or "NOT MET" with by how much, or "NOT MEASURED".
func (g Goal) Verdict() string {
	if g.Value != g.Value {
		if g.Why != "" {
			return "NOT MEASURED (" + g.Why + ")"
		}
		return "NOT MEASURED"
	}
	if g.Target == 0 {
		return "–"
	}
	r := g.Value / g.Target
	switch {
	case g.AtMost && g.Met():
		return fmt.Sprintf("**MET** (%s of the limit)", pct(r))
	case g.AtMost:
		return fmt.Sprintf("**NOT MET** (%s the limit)", Ratio(r))
	case g.Met():
		return fmt.Sprintf("**MET** (%s the goal)", Ratio(r))
	}
	return fmt.Sprintf("**NOT MET** (%s the goal, %s short)", Ratio(r), pct(1-r))
}

func pct(f float64) string {
	if f > 0 && f < 0.01 {
		return "< 1 %"
	}
	if f >= 10 {
		return fmt.Sprintf("%.0f×", f)
	}
	return fmt.Sprintf("%.0f %%", f*100)
}
