// Package envflag reads the configuration of a Switchboard binary: its
// command line, then, for every flag not given there, an environment
// variable (--nats-url of the edge is $SWITCHBOARD_EDGE_NATS_URL), then,
// for every flag in neither, the key of its name in an optional YAML config
// file (see DefineConfig), then checks every value. Whatever is wrong
// comes back as one error naming the flag, or the variable or the file and
// key the value came from, the value and why, so that a binary can print
// it as one line. It does not know what the flags mean:
// the binaries give the checks.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Name returns the environment variable of a flag.
func Name(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// Checks maps a flag's name to its check, run once every flag has its
// value: the check reads the variable the flag set and says what is wrong
// with it, without naming the flag or the value (the Error does).
type Checks map[string]func() error

// Error is a value Parse refuses.
type Error struct {
	Flag  string // the flag's name, without dashes
	Env   string // the variable the value came from; empty when it came from the command line or is the default
	File  string // the config file the value came from, under the key Flag; empty when it did not
	Value string // the value as given
	Err   error  // what is wrong with it

	secret bool // the value is not printed
}

func (e *Error) Error() string {
	v := show(e.Value)
	if e.secret {
		v = "<hidden>"
	}
	if e.Env != "" {
		return fmt.Sprintf("$%s=%s: %v", e.Env, v, e.Err)
	}
	if e.File != "" {
		// Quoted always: between the colons, 127.0.0.1:70000 would blur.
		if !e.secret {
			v = strconv.Quote(redact(e.Value))
		}
		return fmt.Sprintf("%s: %s: %s: %v", e.File, e.Flag, v, e.Err)
	}
	return fmt.Sprintf("--%s %s: %v", e.Flag, v, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// show renders a value for an error line: as given unless it is empty or
// holds spaces or unprintable characters (then quoted), with the password
// of any URL in it replaced by "xxxxx".
func show(v string) string {
	v = redact(v)
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' }) {
		return strconv.Quote(v)
	}
	return v
}

// redact replaces the password of any URL in a comma-separated value by
// "xxxxx".
func redact(v string) string {
	if strings.Contains(v, "@") {
		parts := strings.Split(v, ",")
		for i, p := range parts {
			if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
				if _, ok := u.User.Password(); ok {
					parts[i] = u.Redacted()
				}
			}
		}
		v = strings.Join(parts, ",")
	}
	return v
}

// Parse parses args into fs, fills the flags not given from the environment
// (variables prefix + the flag's name, see Name), then, when fs has a
// config flag (DefineConfig) with a value, those in neither from that file,
// then runs checks. Each flag's usage gets its variable's name appended, so
// --help documents both.
//
// It returns flag.ErrHelp, after printing the usage to fs.Output(), for -h
// or --help; an *Error for a value that does not parse or fails its check;
// another error, one line, for a command line that is not one of flags
// (unknown flag, missing value, an argument) or a config file that cannot
// be read, is not YAML, or holds a key that names no flag. The flag
// package prints nothing else. Variables that name no flag are ignored
// (see Unknown); keys of the file that name no flag are not: the file is
// the binary's alone.
func Parse(fs *flag.FlagSet, prefix string, args []string, checks Checks) error {
	for name := range checks {
		if fs.Lookup(name) == nil {
			panic("envflag: a check for the undefined flag " + name)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += fmt.Sprintf(" [$%s]", Name(prefix, f.Name))
	})
	// Every value is wrapped while parsing, to learn what was given and
	// what Set refused; the flags get their own values back for the usage,
	// whose types and defaults the flag package reads from them.
	rec := map[string]*recorder{}
	fs.VisitAll(func(f *flag.Flag) {
		rec[f.Name] = &recorder{Value: f.Value}
		f.Value = rec[f.Name]
	})
	restore := func() {
		fs.VisitAll(func(f *flag.Flag) { f.Value = rec[f.Name].Value })
	}
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		restore()
		if fs.Usage != nil {
			fs.Usage()
		} else {
			fmt.Fprintf(out, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return err
	}
	defer restore()
	if err != nil {
		for name, r := range rec {
			if r.err != nil {
				return &Error{Flag: name, Value: r.raw, Err: r.err, secret: isSecret(r.Value)}
			}
		}
		return syntaxError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument (flags start with --)", show(fs.Arg(0)))
	}

	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	env := map[string]string{} // flag name -> the variable its value came from
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	for _, name := range names {
		if given[name] {
			continue
		}
		v, ok := os.LookupEnv(Name(prefix, name))
		if !ok {
			continue
		}
		env[name] = Name(prefix, name)
		if e := fs.Set(name, v); e != nil {
			return &Error{Flag: name, Env: env[name], Value: v, Err: rec[name].err, secret: isSecret(rec[name].Value)}
		}
	}
	file := map[string]string{} // flag name -> the config file its value came from
	vals := map[string]flag.Value{}
	for name, r := range rec {
		vals[name] = r.Value
	}
	if cf := configFlag(names, vals); cf != "" && vals[cf].String() != "" {
		path := vals[cf].String()
		data, err := readConfig(path)
		if err != nil {
			return &Error{Flag: cf, Env: env[cf], Value: path, Err: err}
		}
		values, err := parseConfig(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true }) // the environment's too
		for _, kv := range values {
			switch {
			case kv.key == cf:
				return fmt.Errorf("%s: %s: a config file cannot name a config file", path, show(kv.key))
			case fs.Lookup(kv.key) == nil:
				return fmt.Errorf("%s: %s: unknown key: no flag has that name", path, show(kv.key))
			case given[kv.key]:
				continue // the command line or the environment wins
			}
			file[kv.key] = path
			if e := fs.Set(kv.key, kv.value); e != nil {
				r := rec[kv.key]
				return &Error{Flag: kv.key, File: path, Value: kv.value, Err: r.err, secret: isSecret(r.Value)}
			}
		}
	}
	for _, name := range names {
		check := checks[name]
		if check == nil {
			continue
		}
		if err := check(); err != nil {
			f := fs.Lookup(name)
			v := f.DefValue
			if r := rec[name]; r.set {
				v = r.raw
			}
			return &Error{Flag: name, Env: env[name], File: file[name], Value: v, Err: err, secret: isSecret(rec[name].Value)}
		}
	}
	return nil
}

// Unknown returns the environment variables with the prefix that name no
// flag of fs, sorted: nothing reads them, and a misspelt one would
// otherwise go unnoticed. They are not an error: an orchestrator may set
// variables of that form for its own ends (Kubernetes does, for a Service
// named switchboard-edge).
func Unknown(fs *flag.FlagSet, prefix string) []string {
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[Name(prefix, f.Name)] = true })
	var unknown []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, prefix) && !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return unknown
}

// syntaxError rewrites the flag package's errors for a command line that is
// not one of flags in this package's form.
func syntaxError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("--%s: unknown flag", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("--%s: needs a value", name)
	}
	if arg, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok {
		return fmt.Errorf("%s: bad flag syntax", show(arg))
	}
	return err
}

// recorder wraps a flag's value to keep what was given and why Set refused
// it.
type recorder struct {
	flag.Value
	raw string
	set bool
	err error
}

func (r *recorder) Set(s string) error {
	r.raw, r.set = s, true
	if err := r.Value.Set(s); err != nil {
		r.err = explain(r.Value, s, err)
		return r.err
	}
	return nil
}

// String is called by the flag package on a zero recorder too.
func (r *recorder) String() string {
	if r == nil || r.Value == nil {
		return ""
	}
	return r.Value.String()
}

// IsBoolFlag lets a boolean flag go without a value (--demo).
func (r *recorder) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// explain replaces the flag package's "parse error" for its own types by
// what the value should have been.
func explain(v flag.Value, s string, err error) error {
	g, ok := v.(flag.Getter)
	if !ok {
		return err
	}
	switch g.Get().(type) {
	case time.Duration:
		return errors.New("invalid duration")
	case bool:
		return errors.New("invalid boolean: want true or false")
	case int, int64, uint, uint64:
		if _, e := strconv.ParseInt(s, 0, 64); errors.Is(e, strconv.ErrRange) {
			return errors.New("out of range")
		}
		return errors.New("invalid integer")
	case float64:
		return errors.New("invalid number")
	}
	return err
}

func isSecret(v flag.Value) bool {
	switch v.(type) {
	case *Secrets, *Secret:
		return true
	}
	return false
}

// List is a flag holding a comma-separated list; empty items are dropped.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set splits a comma-separated value. A value of commas alone is refused:
// it would mean the same as no value, which is rarely what was meant.
func (l *List) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	if len(*l) == 0 && strings.TrimSpace(v) != "" {
		return errors.New("no items, only commas")
	}
	return nil
}

// Secrets is a List whose value an Error does not print (API keys).
type Secrets List

func (s *Secrets) String() string     { return (*List)(s).String() }
func (s *Secrets) Set(v string) error { return (*List)(s).Set(v) }
