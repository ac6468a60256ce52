package rollout

// AdmitRollout decides whether a rollout may start under the operator's
// cluster-wide budget (--max-concurrent-rollouts): max rollouts in
// progress at once, 0 for no limit. inProgress counts the rollouts under
// way; ahead counts the rollouts that asked earlier and still wait (first
// come, first served: a late arrival does not overtake the queue when a
// slot frees).
func AdmitRollout(max, inProgress, ahead int) bool {
	if max <= 0 {
		return true
	}
	return inProgress+ahead < max
}
