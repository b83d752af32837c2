package envflag

// Secret is a string flag whose value an Error does not print (a key or
// a password). Unlike List and Secrets it is kept byte for byte: no
// splitting at commas, no trimming.
type Secret string

func (s *Secret) String() string     { return string(*s) }
func (s *Secret) Set(v string) error { *s = Secret(v); return nil }
