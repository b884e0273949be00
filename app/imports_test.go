package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	modulePath = "github.com/slipwayhq/slipway"
	fiberPath  = "github.com/gofiber/fiber/v2"
)

// listedPackage is the part of `go list -json` the import rules read.
type listedPackage struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// listPackages runs `go list -deps -test=false -json ./...` from the module root.
func listPackages(t *testing.T) map[string]*listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "-deps", "./...")
	cmd.Dir = ".."
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	pkgs := map[string]*listedPackage{}
	dec := json.NewDecoder(&out)
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkgs[p.ImportPath] = &p
	}
	return pkgs
}

// domainOf returns "runs" for .../modules/runs and .../modules/runs/storetest.
func domainOf(path string) string {
	rest, ok := strings.CutPrefix(path, modulePath+"/modules/")
	if !ok {
		return ""
	}
	d, _, _ := strings.Cut(rest, "/")
	return d
}

// importViolations applies the layering rules to one package's imports:
// no domain imports another domain, and no platform package imports a domain.
func importViolations(pkg string, imports []string) []string {
	var bad []string
	from := domainOf(pkg)
	platform := strings.HasPrefix(pkg, modulePath+"/platform/")
	for _, imp := range imports {
		to := domainOf(imp)
		switch {
		case to == "":
		case platform:
			bad = append(bad, pkg+" (platform) imports the domain "+imp)
		case from != "" && from != to:
			bad = append(bad, pkg+" (domain "+from+") imports the domain "+imp)
		}
	}
	return bad
}

// TestImportLayering keeps the layers apart: domains never import each other
// (they talk through platform/access), platform never imports a domain, and
// no service, store or worker pulls in Fiber, even indirectly; only a
// module's routes and its fx wiring speak HTTP.
func TestImportLayering(t *testing.T) {
	pkgs := listPackages(t)
	var bad []string
	checked := 0
	for path, p := range pkgs {
		if !strings.HasPrefix(path, modulePath+"/") {
			continue
		}
		checked++
		all := slices.Concat(p.Imports, p.TestImports, p.XTestImports)
		bad = append(bad, importViolations(path, all)...)
		if domainOf(path) != "" || strings.HasPrefix(path, modulePath+"/platform/storage") {
			bad = append(bad, fiberViolations(t, p, pkgs)...)
		}
	}
	require.Greater(t, checked, 20, "go list found the module's packages")
	require.Empty(t, bad, "import rules broken")
}

// httpFile reports whether a file of a domain package is its HTTP edge or
// wiring, the only files allowed to reach Fiber.
func httpFile(name string) bool {
	return strings.HasPrefix(name, "routes") || name == "module.go"
}

// fiberViolations lists the files of p, other than routes and wiring, that
// import Fiber or a package depending on it.
func fiberViolations(t *testing.T, p *listedPackage, pkgs map[string]*listedPackage) []string {
	t.Helper()
	var bad []string
	for _, name := range p.GoFiles {
		if httpFile(name) {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			require.NoError(t, err)
			// A domain's own packages are checked file by file themselves.
			own := domainOf(imp) != "" && domainOf(imp) == domainOf(p.ImportPath)
			if !own && reachesFiber(imp, pkgs) {
				bad = append(bad, p.ImportPath+"/"+name+" reaches Fiber through "+imp)
			}
		}
	}
	return bad
}

func reachesFiber(imp string, pkgs map[string]*listedPackage) bool {
	if imp == fiberPath || strings.HasPrefix(imp, fiberPath+"/") {
		return true
	}
	p, ok := pkgs[imp]
	return ok && slices.ContainsFunc(p.Deps, func(d string) bool { return d == fiberPath })
}

// TestImportRulesCatchViolations checks the rules themselves on made-up
// imports, so a rule that silently stopped matching would be noticed.
func TestImportRulesCatchViolations(t *testing.T) {
	m := modulePath + "/modules/"
	require.Len(t, importViolations(m+"runs", []string{m + "projects"}), 1, "domain to domain")
	require.Len(t, importViolations(m+"runs/storetest", []string{m + "repositories/storetest"}), 1, "a domain's test helpers to another's")
	require.Empty(t, importViolations(m+"runs/storetest", []string{m + "runs"}), "within one domain")
	require.Len(t, importViolations(modulePath+"/platform/access", []string{m + "users"}), 1, "platform to domain")
	require.Empty(t, importViolations(modulePath+"/app", []string{m + "users"}), "the composition root lists every domain")
	pkgs := map[string]*listedPackage{modulePath + "/platform/httpserver": {Deps: []string{fiberPath}}}
	require.True(t, reachesFiber(modulePath+"/platform/httpserver", pkgs))
	require.True(t, reachesFiber(fiberPath+"/middleware/cors", pkgs))
	require.False(t, reachesFiber(modulePath+"/platform/identity", pkgs))
	require.True(t, httpFile("routes_admin.go"))
	require.False(t, httpFile("service.go"))
}
