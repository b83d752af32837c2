package deploy

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// fromPrometheus are the series Prometheus itself records for every
// target; a rule may name them though no binary exports them.
var fromPrometheus = []string{"up"}

// CheckRules validates a Prometheus rules file as promtool check rules
// does (rulefmt: unknown fields refused, every expression and template
// parsed) and returns, besides, every metric an expression names that is
// not in exported.
func CheckRules(path string, exported map[string]bool) []error {
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return errs
	}
	rules := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			rules++
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Alert, err))
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				if !exported[vs.Name] && !slices.Contains(fromPrometheus, vs.Name) {
					errs = append(errs, fmt.Errorf("%s: metric %q is exported by neither binary", r.Alert, vs.Name))
				}
				return nil
			})
		}
	}
	if rules == 0 {
		errs = append(errs, fmt.Errorf("%s: no rule", path))
	}
	return errs
}
