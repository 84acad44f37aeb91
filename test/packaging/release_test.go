package packaging

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// releasePlatform is the one platform the test releases for: this one (an
// arm build is ARMv7, as make release names it), so its binaries run here.
func releasePlatform() (platform, name string) {
	platform = runtime.GOOS + "/" + runtime.GOARCH
	name = runtime.GOOS + "-" + runtime.GOARCH
	if runtime.GOARCH == "arm" {
		name += "v7"
	}
	return platform, name
}

// make release for one platform: an archive named by version and platform,
// SHA256SUMS matching it, and inside it stripped binaries, a manifest
// matching its plugins, the documents and the systemd units; the extracted
// binary prints the version and runs its plugins from beside it.
func TestRelease(t *testing.T) {
	const version = "v0.0.0-releasetest"
	platform, name := releasePlatform()
	dist := t.TempDir()
	runMake(t, "release", "PLATFORMS="+platform, "DIST="+dist, "VERSION="+version)

	pkg := "burrow-" + version + "-" + name
	archive := pkg + ".tar.gz"
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"SHA256SUMS", archive}; !slices.Equal(got, want) {
		t.Fatalf("make release left %v in DIST, want %v", got, want)
	}
	sums := readSums(t, filepath.Join(dist, "SHA256SUMS"))
	if len(sums) != 1 || sums[archive] != fileSHA256(t, filepath.Join(dist, archive)) {
		t.Fatalf("SHA256SUMS %v does not match %s (%s)", sums, archive, fileSHA256(t, filepath.Join(dist, archive)))
	}

	out := t.TempDir()
	files := extract(t, filepath.Join(dist, archive), out)
	var want []string
	for _, f := range []string{"burrow", "LICENSE", "README.md", "CHANGELOG.md", "plugins/plugins.sha256",
		"packaging/systemd/burrow-master.service", "packaging/systemd/burrow-agent@.service"} {
		want = append(want, pkg+"/"+f)
	}
	for _, p := range pluginNames {
		want = append(want, pkg+"/plugins/"+p)
	}
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("%s holds\n  %v\nwant\n  %v", archive, files, want)
	}
	for _, doc := range []string{"LICENSE", "README.md", "CHANGELOG.md"} {
		if fileSHA256(t, filepath.Join(out, pkg, doc)) != fileSHA256(t, filepath.Join(repoRoot(t), doc)) {
			t.Errorf("%s in the archive differs from the repository's", doc)
		}
	}

	dir := filepath.Join(out, pkg)
	checkPluginDir(t, filepath.Join(dir, "plugins"))
	if runtime.GOOS == "linux" {
		for _, bin := range append([]string{"burrow"}, prefixed("plugins/", pluginNames)...) {
			checkStripped(t, filepath.Join(dir, bin))
		}
	}
	checkVersion(t, filepath.Join(dir, "burrow"), version, platform)
	expectPluginMaster(t, "released", filepath.Join(dir, "burrow"))
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// checkStripped checks that an ELF binary carries no symbol table or
// DWARF (-s -w) and that it is static.
func checkStripped(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("%s is not stripped: it has section %s", path, s.Name)
			return
		}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it has an interpreter)", path)
		}
	}
}

// extract unpacks a .tar.gz into dir, refusing entries that would land
// outside it, and returns the regular files' names, sorted.
func extract(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	tr := tar.NewReader(zr)
	var files []string
	for range 1000 { // bounded: a release holds a dozen files
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			slices.Sort(files)
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", archive, err)
		}
		name := path.Clean(h.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			t.Fatalf("%s: entry %q leaves the archive's directory", archive, h.Name)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s is owned by %d:%d, want 0:0", archive, name, h.Uid, h.Gid)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			files = append(files, name)
			if err := writeEntry(dst, tr, h.FileInfo().Mode().Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: %s is neither a file nor a directory (type %c)", archive, name, h.Typeflag)
		}
	}
	t.Fatalf("%s: more than 1000 entries", archive)
	return nil
}

func writeEntry(dst string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	w, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return fmt.Errorf("extract %s: %w", dst, err)
	}
	return w.Close()
}
