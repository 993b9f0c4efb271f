package httpgw

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// corsMaxAge is how long a browser may keep a preflight's answer.
const corsMaxAge = 10 * time.Minute

// cors answers what browsers ask of a cross-origin request: the preflight
// (OPTIONS with Access-Control-Request-Method), which it answers in full
// and reports as handled, and the Access-Control-Allow-Origin of the
// others. Only the origins WithCORS allows get an answer; others get none,
// so the browser refuses them.
func (g *Gateway) cors(w http.ResponseWriter, r *http.Request) (handled bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || !g.allowed(origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Ifkit-Type, ETag")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Accept, If-None-Match, Last-Event-ID")
	h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge.Seconds())))
	w.WriteHeader(http.StatusNoContent)
	return true
}

// allowed reports whether origin may use the gateway from a browser.
func (g *Gateway) allowed(origin string) bool {
	return slices.Contains(g.o.origins, "*") || slices.Contains(g.o.origins, origin)
}

// originPatterns are the hosts WebSocket handshakes from other origins may
// come from (websocket.AcceptOptions.OriginPatterns).
func (g *Gateway) originPatterns() []string {
	var out []string
	for _, o := range g.o.origins {
		if o == "*" {
			return []string{"*"}
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}
