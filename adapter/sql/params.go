package dbadapter

import (
	"errors"
	"strings"
)

// paramNames returns the :name parameters of sql, each once, in the order
// they first appear.
func paramNames(sql string) ([]string, error) {
	_, names, err := bindParams(sql, func(int) string { return "?" })
	return names, err
}

// bindParams rewrites the :name parameters of sql as placeholder(n), n
// numbering the distinct names from 1 in the order they first appear, and
// returns the names in that order. Quoted strings and identifiers,
// comments and PostgreSQL's :: casts are left as they are.
func bindParams(sql string, placeholder func(n int) string) (string, []string, error) {
	var out strings.Builder
	var names []string
	index := map[string]int{}
	for i := 0; i < len(sql); {
		ch := sql[i]
		switch {
		case ch == '\'' || ch == '"' || ch == '`':
			j := quoteEnd(sql, i)
			if j < 0 {
				return "", nil, errors.New("a quote is not closed")
			}
			out.WriteString(sql[i : j+1])
			i = j + 1
		case ch == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql) - i
			}
			out.WriteString(sql[i : i+end])
			i += end
		case ch == '/' && strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return "", nil, errors.New("a /* comment is not closed")
			}
			out.WriteString(sql[i : i+end+4])
			i += end + 4
		case ch == ':' && strings.HasPrefix(sql[i:], "::"):
			out.WriteString("::")
			i += 2
		case ch == ':' && i+1 < len(sql) && isIdentStart(sql[i+1]):
			j := i + 1
			for j < len(sql) && isIdentPart(sql[j]) {
				j++
			}
			name := sql[i+1 : j]
			n, ok := index[name]
			if !ok {
				names = append(names, name)
				n = len(names)
				index[name] = n
			}
			out.WriteString(placeholder(n))
			i = j
		case ch == '?' || (ch == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9'):
			return "", nil, errors.New("give parameters by name (:customer), not as ? or $1")
		default:
			out.WriteByte(ch)
			i++
		}
	}
	return out.String(), names, nil
}

func isIdentStart(b byte) bool {
	return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

func isIdentPart(b byte) bool { return isIdentStart(b) || (b >= '0' && b <= '9') }

// quoteEnd returns the index of the quote that closes the one at i (a
// doubled quote inside stands for itself), or -1.
func quoteEnd(sql string, i int) int {
	q := sql[i]
	for j := i + 1; j < len(sql); j++ {
		if sql[j] != q {
			continue
		}
		if j+1 < len(sql) && sql[j+1] == q {
			j++
			continue
		}
		return j
	}
	return -1
}
