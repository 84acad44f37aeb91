package file

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// maxSecretFile bounds a file ${file:PATH} reads.
const maxSecretFile = 64 << 10

// expand replaces ${env:NAME} and ${file:PATH} in s ($${ is a literal
// "${"), adding every value to secrets; with encode each value is
// percent-encoded (every byte but the unreserved ones), which both the
// userinfo and the query of a URL decode. A file's content loses its
// trailing newlines. Relative paths are relative to the working directory,
// as crt= and key= are. Problems never show a value.
func expand(s string, encode bool, secrets *[]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New(`"${" without a closing "}" (write $${ for a literal "${")`)
		}
		ref := s[i+2 : i+end]
		v, err := lookup(ref)
		if err != nil {
			return "", err
		}
		*secrets = append(*secrets, v)
		if encode {
			v = percentEncode(v)
			*secrets = append(*secrets, v) // as a URL in a problem shows it
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

// lookup resolves one reference, "env:NAME" or "file:PATH".
func lookup(ref string) (string, error) {
	kind, arg, _ := strings.Cut(ref, ":")
	switch kind {
	case "env":
		if arg == "" {
			return "", errors.New("${env:} needs a variable name")
		}
		v, ok := os.LookupEnv(arg)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", arg)
		}
		return v, nil
	case "file":
		if arg == "" {
			return "", errors.New("${file:} needs a path")
		}
		data, err := readBounded(arg, maxSecretFile)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimRight(string(data), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", arg)
		}
		return v, nil
	}
	return "", fmt.Errorf("unknown reference ${%s:...} (want ${env:NAME} or ${file:PATH})", kind)
}

// percentEncode encodes every byte of s that is not unreserved (RFC 3986).
func percentEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
