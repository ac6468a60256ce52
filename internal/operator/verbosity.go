package operator

import "go.uber.org/zap/zapcore"

// MaxVerbosity is the most verbose logr V-level certsync ever logs at,
// whatever --zap-log-level asks for. client-go logs whole request and
// response bodies from V(8) on (rest.Request, transport's debugging round
// tripper), through the logger controller-runtime puts in every reconcile's
// context; a Secret's body holds its private key, so above 7 the most
// verbose log would carry key material.
const MaxVerbosity = 7

// CapVerbosity returns an enabler that never enables a level more verbose
// than MaxVerbosity and otherwise defers to l (nil: zap's defaults).
func CapVerbosity(l zapcore.LevelEnabler) zapcore.LevelEnabler {
	if l == nil {
		return nil
	}
	return cappedLevel{l}
}

type cappedLevel struct{ zapcore.LevelEnabler }

// Enabled: logr's V(n) is zap level -n.
func (c cappedLevel) Enabled(l zapcore.Level) bool {
	return l >= -MaxVerbosity && c.LevelEnabler.Enabled(l)
}
