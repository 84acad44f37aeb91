package framework

import (
	"os"
	"path/filepath"
)

// Tool returns the path of a reference binary (NodePass, NodePassDash,
// frp) from the shared tools directory, `../shared/tools/NAME` relative to
// the project root or any directory above it, and false when it is not
// there (another OS or architecture, a checkout elsewhere).
func Tool(name string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for range 8 { // bounded: test/e2e is a few levels below the root
		p := filepath.Join(dir, "shared", "tools", name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", false
}
