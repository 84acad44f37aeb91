package conf

import (
	"strconv"
	"strings"
)

// URLError is the error Parse returns: the URL (with its secrets replaced by
// "****") and every problem found, each naming the offending part.
type URLError struct {
	URL      string   // the URL as given, redacted
	Problems []string // one entry per problem, in the order found
	NoURL    bool     // the problems are of parameters alone (ParseParams)
}

// Error returns `invalid instance URL "<url>": <problem>[; <problem>...]`,
// or without a URL (ParseParams) just the problems.
func (e *URLError) Error() string {
	if e.NoURL {
		return strings.Join(e.Problems, "; ")
	}
	return "invalid instance URL " + strconv.Quote(e.URL) + ": " + strings.Join(e.Problems, "; ")
}
