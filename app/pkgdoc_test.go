package app

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEveryPackageHasADocComment walks the module and requires a package
// doc comment in every package (README, "How to add a domain module": doc.go
// says why a package exists).
func TestEveryPackageHasADocComment(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	// dir -> package name -> documented
	pkgs := map[string]map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" ||
			d.Name() == "data" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.PackageClauseOnly)
		require.NoError(t, err, path)
		dir := filepath.Dir(path)
		if pkgs[dir] == nil {
			pkgs[dir] = map[string]bool{}
		}
		documented := f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != ""
		pkgs[dir][f.Name.Name] = pkgs[dir][f.Name.Name] || documented
		return nil
	})
	require.NoError(t, err)
	checked := 0
	for dir, names := range pkgs {
		rel, _ := filepath.Rel(root, dir)
		for name, documented := range names {
			require.True(t, documented, "package %s (%s) has no doc comment", name, rel)
			checked++
		}
	}
	require.Greater(t, checked, 10)
}
