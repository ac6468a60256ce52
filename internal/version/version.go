// Package version holds the build's version, stamped at link time:
//
//	go build -ldflags "-X certsync.io/certsync/internal/version.Version=v0.1.0 \
//	  -X certsync.io/certsync/internal/version.Commit=$(git rev-parse HEAD) \
//	  -X certsync.io/certsync/internal/version.Date=$(date -u +%FT%TZ)"
package version

var (
	// Version is the release, e.g. v0.1.0; "dev" for an unstamped build.
	Version = "dev"
	// Commit is the git commit the binary was built from.
	Commit = ""
	// Date is when the binary was built (RFC 3339).
	Date = ""
)
