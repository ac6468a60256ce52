package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"

	"certsync.io/certsync/test/mailsim"
)

// maxStaleBody bounds a POST /stale body: a certificate chain and a key.
const maxStaleBody = 1 << 20

func controlHandler(sim *mailsim.Simulator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /serving", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sim.Serving())
	})
	mux.HandleFunc("POST /stale", func(w http.ResponseWriter, r *http.Request) {
		pod := r.URL.Query().Get("pod")
		if pod == "" {
			http.Error(w, "missing ?pod=NAME", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxStaleBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		certPEM, keyPEM := splitPEM(body)
		if err := sim.ServeStale(pod, certPEM, keyPEM); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// splitPEM separates certificate blocks from the key block, so callers can
// simply concatenate tls.crt and tls.key.
func splitPEM(data []byte) (certPEM, keyPEM []byte) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certPEM, keyPEM
		}
		if block.Type == "CERTIFICATE" {
			certPEM = append(certPEM, pem.EncodeToMemory(block)...)
		} else {
			keyPEM = append(keyPEM, pem.EncodeToMemory(block)...)
		}
	}
}
