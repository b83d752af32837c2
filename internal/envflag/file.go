package envflag

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a config file: more is refused rather than read (a
// config path that names /dev/zero or a log would otherwise never end).
const MaxFileSize = 1 << 20

// ConfigFile is the value of the flag that names a config file (see
// DefineConfig): the path, or empty for none.
type ConfigFile string

func (c *ConfigFile) String() string     { return string(*c) }
func (c *ConfigFile) Set(v string) error { *c = ConfigFile(v); return nil }

// DefineConfig defines the flag --config, the path of an optional YAML
// file of flag values. Parse reads it after the command line and the
// environment: a flag given in neither takes the file's value. Like every
// flag it has a variable too ($<prefix>CONFIG).
//
// The file is a mapping whose keys are the flags' names without dashes and
// whose values are what the flag takes, as text (max-payload: 1000000,
// ping-interval: 5s); a list flag's value may also be a sequence of items.
// A key that names no flag is an error, and so is the key config.
func DefineConfig(fs *flag.FlagSet) {
	fs.Var(new(ConfigFile), "config", "YAML `file` of flag values, each under its flag's name (max-payload: 1000000); a list may be a YAML sequence; the command line and the environment win over it; empty: none")
}

// configFlag returns the name of fs's config flag, empty when it has
// none. vals are the flags' own values (Parse wraps them).
func configFlag(names []string, vals map[string]flag.Value) string {
	found := ""
	for _, name := range names {
		if _, ok := vals[name].(*ConfigFile); ok {
			if found != "" {
				panic("envflag: two config flags, --" + found + " and --" + name)
			}
			found = name
		}
	}
	return found
}

// fileValue is one key of a config file with its value as a flag takes it.
type fileValue struct {
	key, value string
}

// readConfig reads a config file, at most MaxFileSize bytes. The errors
// do not name the file: the caller does.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	return data, nil
}

// parseConfig parses a config file into its keys and values, in the
// file's order. The errors name neither the file nor any value: the caller
// names the file, and a value may be a secret.
func parseConfig(data []byte) ([]fileValue, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil // empty, or comments only
	} else if err != nil {
		return nil, yamlError(err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, fmt.Errorf("line %d: a second YAML document; want one mapping of flag names to values", more.Line)
	}
	top := &doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return nil, nil // "~" alone
	}
	if top.Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping of flag names to values (max-payload: 1000000)")
	}
	var vals []fileValue
	seen := map[string]int{} // key -> its line
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := resolve(top.Content[i]), resolve(top.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key that is not a flag's name", k.Line)
		}
		key := k.Value
		if line, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s: given twice (lines %d and %d)", show(key), line, k.Line)
		}
		seen[key] = k.Line
		value, err := scalarText(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", show(key), err)
		}
		vals = append(vals, fileValue{key: key, value: value})
	}
	return vals, nil
}

// scalarText returns a value as a flag's Set takes it: a scalar's text as
// written (so that 5s, 0x10 or "/=jwt" reach the flag unchanged and the
// flag, not YAML, says what they mean), null as empty, a sequence of
// scalars as their comma-separated list (the list flags' form).
func scalarText(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("line %d: a list's items must be values, not lists or mappings", item.Line)
			}
			items = append(items, item.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", fmt.Errorf("line %d: want a value or a list of values, not a mapping", n.Line)
}

// resolve follows an alias (*name) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// yamlError drops the "yaml: " the package starts its errors with and
// keeps the error on one line.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return errors.New(strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " "))
}

// unwrapPath drops the path from an *os.PathError: the line names it.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
