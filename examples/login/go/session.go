package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cookieName is the session cookie's name.
const cookieName = "session"

// maxUser bounds a user name, as the hook's ConnectAllow.user is bounded.
const maxUser = 64

// sessions signs and checks session cookies: the value is
// base64url(user) "." expiry (Unix seconds) "." base64url(HMAC-SHA256 of
// the two), as Flask's signed session cookie is, with the standard
// library's HMAC. The key never changes after start, so it needs no lock.
type sessions struct {
	key []byte
	ttl time.Duration
}

func (s *sessions) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// cookie is a signed session for user, valid for s.ttl from now.
func (s *sessions) cookie(user string, now time.Time) *http.Cookie {
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + strconv.FormatInt(now.Add(s.ttl).Unix(), 10)
	return &http.Cookie{
		Name:     cookieName,
		Value:    payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)),
		Path:     "/",
		MaxAge:   int(s.ttl.Seconds()),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// user checks a cookie value and returns its user: false when it is not
// one this app signed, or it expired.
func (s *sessions) user(value string, now time.Time) (string, bool) {
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return "", false
	}
	payload, sig := value[:i], value[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return "", false
	}
	u, exp, ok := strings.Cut(payload, ".")
	if !ok {
		return "", false
	}
	expiry, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= expiry {
		return "", false
	}
	user, err := base64.RawURLEncoding.DecodeString(u)
	if err != nil {
		return "", false
	}
	return string(user), true
}

// fromHeader finds the session cookie in a Cookie header's value, as the
// edge gives it to the hook, and checks it.
func (s *sessions) fromHeader(cookieHeader string, now time.Time) (string, bool) {
	r := http.Request{Header: http.Header{"Cookie": {cookieHeader}}}
	for _, c := range r.CookiesNamed(cookieName) {
		if user, ok := s.user(c.Value, now); ok {
			return user, true
		}
	}
	return "", false
}
