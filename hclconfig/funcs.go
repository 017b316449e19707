package hclconfig

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// maxFileSize bounds what file() reads: it is meant for secrets and
// short values, not for data.
const maxFileSize = 1 << 20

// evalContext returns the functions available in expressions. There are
// no variables.
func evalContext(lookupEnv func(string) (string, bool), dir string) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env":   envFunc(lookupEnv),
		"file":  fileFunc(dir),
		"lower": stdlib.LowerFunc,
		"upper": stdlib.UpperFunc,
	}}
}

// envFunc is env("NAME"): the value of an environment variable, an error
// naming it when it is not set. A variable set to "" gives "".
func envFunc(lookup func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := lookup(name)
			if !ok {
				return cty.NilVal, fmt.Errorf("environment variable %q is not set", name)
			}
			return cty.StringVal(v), nil
		},
	})
}

// fileFunc is file("path"): the contents of a UTF-8 text file, path
// relative to dir, with trailing line breaks removed so that a secret
// written by echo works as a password.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a file, relative to the configuration file's directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if p == "" {
				return cty.NilVal, errors.New("the path is empty")
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := readFile(p)
			if err != nil {
				return cty.NilVal, fmt.Errorf("cannot read %s: %v", p, err)
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("%s is not UTF-8 text", p)
			}
			return cty.StringVal(strings.TrimRight(string(b), "\r\n")), nil
		},
	})
}

// readFile reads at most maxFileSize bytes of a regular file. Its errors
// leave out the path, which the caller adds.
func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, pathless(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, pathless(err)
	} else if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, pathless(err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return b, nil
}

func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
