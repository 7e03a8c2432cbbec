package store

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unobserved are the methods that set the store up or say how it is set
// up: they ask the database nothing.
var unobserved = []string{"Close", "Observe", "SetLayerCacheBound", "LayerCacheOn"}

// Every operation of the store reports its duration, under a name of its
// own, to the observer the server's metrics set.
func TestEveryOperationIsObserved(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	names := map[string]string{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || !fn.Name.IsExported() || slices.Contains(unobserved, fn.Name.Name) {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); !ok || star.X.(*ast.Ident).Name != "Store" {
				continue
			}
			operation := observedAs(fn)
			if operation == "" {
				t.Errorf("%s: Store.%s does not begin with defer s.timed(\"name\")()", fset.Position(fn.Pos()), fn.Name.Name)
				continue
			}
			if other, ok := names[operation]; ok {
				t.Errorf("Store.%s and Store.%s are both observed as %q", other, fn.Name.Name, operation)
			}
			names[operation] = fn.Name.Name
		}
	}
	if len(names) < 30 {
		t.Errorf("only %d observed operations found", len(names))
	}

	s, err := Open(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var seen []string
	s.Observe(func(operation string, took time.Duration) {
		if took < 0 {
			t.Errorf("%s took %v", operation, took)
		}
		seen = append(seen, operation)
	})
	if err := s.Record(context.Background(), fullRecord(app1, t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tokens(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"record", "tokens"}) {
		t.Errorf("observed %v, want [record tokens]", seen)
	}
}

// observedAs is the operation name of a method's first statement,
// defer s.timed("name")(), or "".
func observedAs(fn *ast.FuncDecl) string {
	if fn.Body == nil || len(fn.Body.List) == 0 {
		return ""
	}
	deferred, ok := fn.Body.List[0].(*ast.DeferStmt)
	if !ok {
		return ""
	}
	inner, ok := deferred.Call.Fun.(*ast.CallExpr)
	if !ok || len(inner.Args) != 1 {
		return ""
	}
	sel, ok := inner.Fun.(*ast.SelectorExpr)
	lit, isLit := inner.Args[0].(*ast.BasicLit)
	if !ok || sel.Sel.Name != "timed" || !isLit {
		return ""
	}
	name, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return name
}
