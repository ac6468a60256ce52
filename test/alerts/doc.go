// Package alerts tests certsync's alert rules (config/prometheus) and their
// runbooks (docs/runbooks.md):
//
//   - the PrometheusRule (prometheusrule.yaml) carries exactly the groups of
//     the plain rules file (rules.yaml);
//   - every alert has a severity, a summary, a templated description and a
//     runbook_url whose anchor exists in docs/runbooks.md;
//   - `promtool check rules` accepts rules.yaml and `promtool test rules`
//     passes rules_test.yaml, whose cases show each alert firing and not.
//
// promtool is built from Go modules by hack/promtool.sh (once, into the
// certsync cache; about 5 minutes on 2 cores the first time).
// CERTSYNC_SKIP_PROMTOOL=1 skips the promtool tests, not the others.
//
//	go test ./test/alerts/
package alerts
