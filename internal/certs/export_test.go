package certs

// SetPKCS12Limits sets the key-derivation caps (per derivation, and over
// the whole file) until the returned func restores them. The tests that
// use it do not run in parallel.
func SetPKCS12Limits(perDerivation, total int64) (restore func()) {
	per, all := maxPKCS12Iterations, maxPKCS12TotalIterations
	maxPKCS12Iterations, maxPKCS12TotalIterations = perDerivation, total
	return func() { maxPKCS12Iterations, maxPKCS12TotalIterations = per, all }
}
