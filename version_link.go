/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import "certsync.io/certsync/internal/version"

// A build stamping an empty version (-X ...Version= from an unset make
// variable) still reports "dev". Reading the variable here also keeps it
// linked, so the stamp is in every binary (test/image looks for it) even if
// nothing else reads it.
func init() {
	if version.Version == "" {
		version.Version = "dev"
	}
}
