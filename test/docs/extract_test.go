package docs

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// command is one shell command of a Markdown file's fenced code blocks.
type command struct {
	file string // path relative to the repository root
	line int    // 1-based line of the command's first line
	text string // as written, its continuation lines included
}

func (c command) String() string { return fmt.Sprintf("%s:%d", c.file, c.line) }

// grpcurlWord finds grpcurl as a word of a command's code.
var grpcurlWord = regexp.MustCompile(`(^|[\s;|&(])grpcurl(\s|$)`)

// extractGrpcurl returns the commands of src's fenced code blocks (``` or
// ~~~) that run grpcurl; a block marked as another language than the
// shell's (```go, ```python, ```ts) is not shell and is skipped. A command is a logical shell line: it goes on past
// a line that ends in a backslash or inside a quote, so a -d '{ ... }' JSON
// spread over lines is one command. Comments do not count.
func extractGrpcurl(file string, src string) ([]command, error) {
	var (
		cmds  []command
		fence string // the open fence's marker, "" outside code blocks
		other bool   // the open block is of another language than the shell's
		cur   []string
		code  strings.Builder // cur without its comments and quoted text
		start int
		sh    shellState
	)
	for i, l := range strings.Split(src, "\n") {
		n := i + 1
		if len(cur) == 0 {
			trimmed := strings.TrimLeft(l, " ")
			if fence == "" {
				if len(l)-len(trimmed) <= 3 && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
					fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, trimmed[:1]))]
					lang, _, _ := strings.Cut(strings.TrimSpace(trimmed[len(fence):]), " ")
					other = !shellLangs[lang]
				}
				continue
			}
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]+" \t") == "" {
				fence = ""
				continue
			}
			if other {
				continue
			}
			start = n
		} else if strings.HasPrefix(strings.TrimLeft(l, " "), fence) && strings.Trim(l, fence[:1]+" \t") == "" {
			return nil, fmt.Errorf("%s:%d: the code block ends inside the command that starts on line %d (an open quote or a trailing backslash)", file, n, start)
		}
		cur = append(cur, l)
		if sh.line(l, &code) {
			continue
		}
		if grpcurlWord.MatchString(code.String()) {
			cmds = append(cmds, command{file: file, line: start, text: strings.TrimSpace(strings.Join(cur, "\n"))})
		}
		cur = cur[:0]
		code.Reset()
	}
	if len(cur) > 0 {
		return nil, fmt.Errorf("%s:%d: the file ends inside a command", file, start)
	}
	if fence != "" {
		return nil, fmt.Errorf("%s: the file ends inside a code block", file)
	}
	return cmds, nil
}

// shellLangs are the info strings of the code blocks whose lines are shell.
var shellLangs = map[string]bool{"": true, "sh": true, "bash": true, "shell": true, "console": true}

// shellState is where a POSIX shell lexer is between physical lines.
type shellState struct {
	single, double bool // inside '...' or "..."
}

// line scans one physical line, writes the code outside comments and quotes
// to code, and reports whether the command goes on to the next line.
func (s *shellState) line(l string, code *strings.Builder) (more bool) {
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case s.single:
			s.single = c != '\''
		case s.double:
			if c == '\\' && i+1 < len(l) {
				i++
			} else if c == '"' {
				s.double = false
			} else if c == '\\' {
				return true
			}
		case c == '\\':
			if i+1 == len(l) {
				code.WriteByte(' ')
				return true
			}
			i++
		case c == '\'':
			s.single = true
		case c == '"':
			s.double = true
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return false
		default:
			code.WriteByte(c)
		}
	}
	code.WriteByte(' ')
	return s.single || s.double
}

// looseGrpcurl finds lines that look like grpcurl commands (grpcurl and a
// flag) wherever they are: a check on extractGrpcurl that knows nothing of
// fences or quotes.
var looseGrpcurl = regexp.MustCompile(`(?m)^[ \t]*(\$[ \t]+)?(go[ \t]+tool[ \t]+)?grpcurl[ \t]+-`)

func TestExtractGrpcurl(t *testing.T) {
	cases := []struct {
		name  string
		src   string
		want  []command // file is "x.md"
		loose int       // lines looseGrpcurl finds, when not len(want)
		err   string
	}{
		{
			name:  "outside a code block",
			src:   "grpcurl -plaintext a list\n`grpcurl list`\n    go tool grpcurl -plaintext a list\n",
			loose: 2, // docCommands reports the mismatch
		},
		{
			name: "one per line, comments and other commands skipped",
			src: "text\n```sh\n# grpcurl in a comment\ngo tool grpcurl -plaintext a list\nmake run # then grpcurl\n" +
				"go tool grpcurl -plaintext a describe x # grpcurl\n```\n",
			want: []command{
				{line: 4, text: "go tool grpcurl -plaintext a list"},
				{line: 6, text: "go tool grpcurl -plaintext a describe x # grpcurl"},
			},
		},
		{
			name: "backslash continuation",
			src:  "```\ngo tool grpcurl -plaintext -d '{}' \\\n  a x/Y\necho\n```\n",
			want: []command{{line: 2, text: "go tool grpcurl -plaintext -d '{}' \\\n  a x/Y"}},
		},
		{
			name: "multi-line single-quoted JSON",
			src:  "~~~sh\ngo tool grpcurl -d '{\n  \"a\": \"it\\\"s # no comment\",\n  \"b\": [1]\n}' a x/Y\n~~~\n```\ngrpcurl -v b\n```\n",
			want: []command{
				{line: 2, text: "go tool grpcurl -d '{\n  \"a\": \"it\\\"s # no comment\",\n  \"b\": [1]\n}' a x/Y"},
				{line: 8, text: "grpcurl -v b"},
			},
		},
		{
			name: "blocks of other languages skipped",
			src:  "```ts\n// the client's callback: grpcurl -d\n```\n```python\nx = 'grpcurl -v'\n```\n```sh\ngrpcurl -v c\n```\n",
			want: []command{{line: 8, text: "grpcurl -v c"}},
		},
		{
			name: "grpcurl only inside the JSON",
			src:  "```\necho '{\"grpcurl\": 1}'\n```\n",
		},
		{
			name: "fence inside a quote",
			src:  "```\ngo tool grpcurl -d '{\n```\n",
			err:  "x.md:3: the code block ends inside the command that starts on line 2",
		},
		{
			name: "unterminated quote at the end",
			src:  "```\ngo tool grpcurl -d '{\n",
			err:  "x.md:2: the file ends inside a command",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := extractGrpcurl("x.md", tc.src)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			loose := len(tc.want)
			if tc.loose != 0 {
				loose = tc.loose
			}
			if n := len(looseGrpcurl.FindAllString(tc.src, -1)); n != loose {
				t.Errorf("looseGrpcurl finds %d lines, want %d", n, loose)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d commands %q, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				w.file = "x.md"
				if got[i] != w {
					t.Errorf("command %d = %#v, want %#v", i, got[i], w)
				}
			}
		})
	}
}
