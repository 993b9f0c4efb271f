package lab

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// cookieName is the session cookie the sign-in form sets.
const cookieName = "ifkit_lab"

// maxSecretForm bounds the body of POST /login.
const maxSecretForm = 4096

// auth checks requests against the lab's secret. The cookie holds a token
// derived from the secret (an HMAC of a fixed label), so that neither the
// page nor a stolen cookie shows the secret.
type auth struct {
	secret []byte
	token  string
}

func newAuth(secret []byte) *auth {
	if len(secret) == 0 {
		return nil
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("ifkit lab session v1"))
	return &auth{secret: secret, token: hex.EncodeToString(mac.Sum(nil))}
}

// ok tells whether r proves the secret: the session cookie, or a Bearer
// token that is the secret.
func (a *auth) ok(r *http.Request) bool {
	if c, err := r.Cookie(cookieName); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.token)) == 1 {
		return true
	}
	if tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
		return subtle.ConstantTimeCompare([]byte(tok), a.secret) == 1
	}
	return false
}

// login answers POST /login: the form's secret, checked; a session cookie
// and a redirect to the page when it is right, the form again (403) when
// not.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "sign in with POST /login", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSecretForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the sign-in form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("secret")), a.secret) != 1 {
		writeLogin(w, http.StatusForbidden, "That is not the lab's secret.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: a.token, Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// writeLogin answers with the sign-in form.
func writeLogin(w http.ResponseWriter, status int, message string) {
	setPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	loginPage.Execute(w, message)
}
