package docs

import (
	"regexp"
	"strings"
)

// Command is a documented kubectl command and where it was found.
type Command struct {
	Line    string // as documented, placeholders and all
	Source  string // file:section
	Inline  bool   // from a `code span` in prose rather than a code block
	Section string
}

var inlineKubectl = regexp.MustCompile("`(kubectl [^`]+)`")

// Extract returns the kubectl commands of the markdown text md, in order:
// every line of a fenced block that starts with kubectl (or "$ kubectl"),
// backslash continuations joined, and every `kubectl …` code span. keep
// selects sections by their "## " heading; nil keeps all.
func Extract(file, md string, keep func(section string) bool) []Command {
	var out []Command
	section := ""
	inBlock := false
	var prose strings.Builder
	flushProse := func() {
		if keep == nil || keep(section) {
			text := strings.Join(strings.Fields(prose.String()), " ")
			for _, m := range inlineKubectl.FindAllStringSubmatch(text, -1) {
				out = append(out, Command{Line: m[1], Source: file + ": " + section, Inline: true, Section: section})
			}
		}
		prose.Reset()
	}
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		raw := lines[i]
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "```") {
			if !inBlock {
				flushProse()
			}
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			if strings.HasPrefix(raw, "## ") || strings.HasPrefix(raw, "# ") {
				flushProse()
				section = strings.TrimSpace(strings.TrimLeft(raw, "#"))
				continue
			}
			prose.WriteString(raw + "\n")
			continue
		}
		if keep != nil && !keep(section) {
			continue
		}
		cmd := strings.TrimPrefix(trimmed, "$ ")
		if !strings.HasPrefix(cmd, "kubectl ") {
			continue
		}
		for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[i])
		}
		out = append(out, Command{Line: cmd, Source: file + ": " + section, Section: section})
	}
	flushProse()
	return out
}

// Substitute replaces the placeholders the docs use (whole words) with
// names of objects that exist in the test cluster.
func Substitute(line string, values map[string]string) string {
	return placeholder.ReplaceAllStringFunc(line, func(w string) string {
		if v, ok := values[w]; ok {
			return v
		}
		return w
	})
}

var placeholder = regexp.MustCompile(`\b[A-Z][A-Z_]*\b`)
