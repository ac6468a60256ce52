/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

// Package image tests certsync's container image as `make image` builds it
// (hack/tools/image: no container runtime, offline): it builds the OCI
// image layout into a temporary directory and inspects what a runtime
// would run — per platform (linux/amd64 and linux/arm64) the config's user
// (65532:65532), entrypoint (/certsync) and labels, and the layer's files:
// a static binary for that architecture with the version stamped in, and no
// shell.
//
//	go test ./test/image/
package image
