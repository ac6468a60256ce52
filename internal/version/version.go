/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

// Package version holds what the build stamps into the binary with
// -ldflags "-X certsync.io/certsync/internal/version.Version=vX.Y.Z".
package version

var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)
