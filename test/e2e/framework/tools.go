package framework

import (
	"os"
	"path/filepath"
)

// Tool returns the path of a reference binary (NodePass, NodePassDash,
// frp): from $BURROW_TOOLS when set, else from the shared tools directory,
// `../shared/tools/NAME` relative to the project root or any directory
// above it; false when it is not there (another OS or architecture, a
// checkout elsewhere).
func Tool(name string) (string, bool) {
	if dir := os.Getenv("BURROW_TOOLS"); dir != "" {
		return executable(filepath.Join(dir, name))
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for range 8 { // bounded: test/e2e is a few levels below the root
		if p, ok := executable(filepath.Join(dir, "shared", "tools", name)); ok {
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

// executable returns p and whether it is an executable file.
func executable(p string) (string, bool) {
	st, err := os.Stat(p)
	return p, err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
