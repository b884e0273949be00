package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/ids"
)

const idsPath = modulePath + "/platform/ids"

// TestIDPrefixesAreUnique reads every package of the module for the id
// prefixes modules declare (constants of type ids.Prefix) and requires each
// to be well formed and declared once: two kinds sharing a prefix would
// accept each other's ids. There is no registry to forget: declaring the
// constant is what puts a prefix under this test. A prefix written as a
// literal at a call of ids.New or ids.Valid would escape it, so that is
// refused too.
func TestIDPrefixesAreUnique(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	fset := token.NewFileSet()
	declared := map[string]string{} // prefix → where
	var literals []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		name := idsImportName(f)
		if name == "" {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, v := range n.Values {
					where := rel + ":" + n.Names[i].Name
					lit, ok := prefixLiteral(name, n.Type, v)
					if !ok {
						require.False(t, isSelector(n.Type, name, "Prefix"), "%s: give the prefix as a string literal", where)
						continue
					}
					require.True(t, ids.Prefix(lit).Check(), "%s: prefix %q is not 2 to 8 lower-case letters", where, lit)
					require.NotContains(t, declared, lit, "prefix %q is declared by %s and by %s", lit, declared[lit], where)
					declared[lit] = where
				}
			case *ast.CallExpr:
				if isSelector(n.Fun, name, "New") || isSelector(n.Fun, name, "Valid") {
					if len(n.Args) > 0 {
						if _, ok := n.Args[0].(*ast.BasicLit); ok {
							literals = append(literals, fset.Position(n.Pos()).String())
						}
					}
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, literals, "declare the prefix as an ids.Prefix constant instead of a literal")
	for _, want := range []string{"usr", "prj", "rep", "run"} {
		require.Contains(t, declared, want, "the test no longer finds the modules' prefixes")
	}
}

// idsImportName returns the name a file imports platform/ids under, or "".
func idsImportName(f *ast.File) string {
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); path == idsPath {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return "ids"
		}
	}
	return ""
}

// prefixLiteral returns the string a constant of type ids.Prefix is given,
// declared either as `X ids.Prefix = "prj"` or as `X = ids.Prefix("prj")`.
func prefixLiteral(pkg string, typ, value ast.Expr) (string, bool) {
	if call, ok := value.(*ast.CallExpr); ok && typ == nil && isSelector(call.Fun, pkg, "Prefix") && len(call.Args) == 1 {
		value = call.Args[0]
	} else if !isSelector(typ, pkg, "Prefix") {
		return "", false
	}
	lit, ok := value.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}
