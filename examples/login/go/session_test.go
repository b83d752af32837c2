package main

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSessionCookie(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := &sessions{key: []byte(strings.Repeat("k", 32)), ttl: time.Hour}
	other := &sessions{key: []byte(strings.Repeat("o", 32)), ttl: time.Hour}
	c := s.cookie("ann; x=y", now)
	if c.Name != cookieName || !c.HttpOnly || c.Path != "/" {
		t.Errorf("cookie %+v", c)
	}
	if u, ok := s.fromHeader("a=b; "+c.Name+"="+c.Value+"; c=d", now); !ok || u != "ann; x=y" {
		t.Errorf("valid cookie: %q %v", u, ok)
	}
	payload, sig, _ := strings.Cut(c.Value[strings.Index(c.Value, ".")+1:], ".")
	flip := []byte(c.Value)
	flip[0] ^= 1
	for _, tc := range []struct {
		name, value string
		at          time.Time
	}{
		{"expired", c.Value, now.Add(time.Hour)},
		{"another key", other.cookie("ann", now).Value, now},
		{"tampered user", string(flip), now},
		{"longer expiry", c.Value[:strings.Index(c.Value, ".")] + "." + payload + "9." + sig, now},
		{"no signature", c.Value[:strings.LastIndexByte(c.Value, '.')], now},
		{"empty", "", now},
		{"garbage", "...", now},
	} {
		if u, ok := s.user(tc.value, tc.at); ok {
			t.Errorf("%s: admitted as %q", tc.name, u)
		}
	}
	if _, ok := s.fromHeader("", now); ok {
		t.Error("no cookie header admitted")
	}
}

func TestDecodeAPI(t *testing.T) {
	for _, tc := range []struct{ body, err string }{
		{`{"channel":"message","body":"Hi"}`, ""},
		{`{"channel":"news","body":{"a":[1]}}`, ""},
		{`nope`, "not a JSON object"},
		{`[]`, "not a JSON object"},
		{`{"body":"x"}`, `"channel" is missing`},
		{`{"channel":1,"body":"x"}`, `"channel" must be a string`},
		{`{"channel":"","body":"x"}`, `"channel" must not be empty`},
		{`{"channel":"m"}`, `"body" is missing`},
		{`{"channel":"m","body":null}`, `"body" must be a string or an object`},
		{`{"channel":"m","body":[1]}`, `"body" must be a string or an object`},
		{`{"channel":"m","body":true}`, `"body" must be a string or an object`},
		{`{"channel":"m","body":"x"}{}`, "more than one"},
	} {
		_, err := decodeAPI(strings.NewReader(tc.body))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.err)
		}
	}
}
