// Package docs runs the kubectl commands that README.md and
// docs/runbooks.md tell users to run, against a local cluster with the
// operator and the shipped samples, so a documented command that errors is
// a failing test rather than a user's first minute.
package docs
