// Command certsync runs the certsync operator: it keeps TLS Secrets filled
// with the newest valid certificate from their declared sources. Flags and
// manager construction live in internal/operator, where tests run them
// in-process.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"certsync.io/certsync/internal/operator"
)

func main() {
	os.Exit(operator.Main(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdout, os.Stderr, ctrl.GetConfig))
}
