package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmespath-community/go-jmespath/pkg/functions"
	"github.com/jmespath-community/go-jmespath/pkg/interpreter"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Kyverno attestation conditions: blocks of any/all conditions whose keys
// and values are JSON values in which strings may hold {{ JMESPath }}
// variables, evaluated with the attestation's predicate at the root (and
// image.* naming the image), compared by Kyverno's operators.

// variables finds the variables of s as Kyverno's pattern
// (^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\}) does: innermost {{ … }} (holding no
// braces but {…} groups), not preceded by a backslash, left to right.
// Hand-written because the regular expression's backtracking was most of
// a condition's cost.
func variables(s string) []string {
	var out []string
	for i := 0; i+1 < len(s); {
		start := strings.Index(s[i:], "{{")
		if start < 0 {
			break
		}
		start += i
		if start > 0 && s[start-1] == '\\' {
			i = start + 1
			continue
		}
		if end := variableEnd(s, start+2); end > 0 {
			out = append(out, s[start:end])
			i = end
			continue
		}
		i = start + 1
	}
	return out
}

// variableEnd returns the end of a variable whose body starts at i, or 0.
func variableEnd(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case '}':
			if i+1 < len(s) && s[i+1] == '}' {
				return i + 2
			}
			return 0
		case '{':
			j := strings.IndexAny(s[i+1:], "{}")
			if j < 0 || s[i+1+j] != '}' {
				return 0
			}
			i += j + 2
		default:
			i++
		}
	}
	return 0
}

// Bounds on conditions: how many rounds of nested variables a string may
// take, and how long a string may grow while they are substituted.
const (
	maxSubstitutionRounds = 16
	maxSubstitutedLength  = 64 << 10
)

type kyvernoConditions struct {
	blocks []conditionBlock
}

type conditionBlock struct {
	any, all []condition
	hasAny   bool
}

type condition struct {
	key, value any
	operator   string // as written
	op         conditionOperator
	message    string
}

type conditionOperator int

const (
	opEquals conditionOperator = iota
	opNotEquals
	opIn
	opAnyIn
	opAllIn
	opNotIn
	opAnyNotIn
	opAllNotIn
	opGreaterThan
	opGreaterThanOrEquals
	opLessThan
	opLessThanOrEquals
)

// kyvernoOperators maps Kyverno's operator names, lower-cased (Kyverno
// reads them case-insensitively), to dossier's.
var kyvernoOperators = map[string]conditionOperator{
	"equals": opEquals, "equal": opEquals, "notequals": opNotEquals, "notequal": opNotEquals,
	"in": opIn, "anyin": opAnyIn, "allin": opAllIn, "notin": opNotIn, "anynotin": opAnyNotIn, "allnotin": opAllNotIn,
	"greaterthan": opGreaterThan, "greaterthanorequals": opGreaterThanOrEquals,
	"lessthan": opLessThan, "lessthanorequals": opLessThanOrEquals,
	"durationgreaterthan": opGreaterThan, "durationgreaterthanorequals": opGreaterThanOrEquals,
	"durationlessthan": opLessThan, "durationlessthanorequals": opLessThanOrEquals,
}

// jmespathFunctions are the functions a condition may call: JMESPath's
// own (the specification's set, which Kyverno's engine has) and the
// Kyverno functions dossier implements. Any other is refused at load.
var jmespathFunctions = map[string]bool{
	"abs": true, "avg": true, "ceil": true, "contains": true, "ends_with": true, "floor": true, "join": true,
	"keys": true, "length": true, "map": true, "max": true, "max_by": true, "merge": true, "min": true,
	"min_by": true, "not_null": true, "reverse": true, "sort": true, "sort_by": true, "starts_with": true,
	"sum": true, "to_array": true, "to_number": true, "to_string": true, "type": true, "values": true,
}

var kyvernoFunctionNames = []string{"regex_match", "pattern_match", "equal_fold", "to_upper", "to_lower", "time_since", "time_now_utc", "time_after", "time_before"}

// contextRoots are the parts of Kyverno's context dossier has no value
// for outside an admission request: a condition reading them is refused.
var contextRoots = map[string]bool{"request": true, "element": true, "elementIndex": true, "serviceAccountName": true, "serviceAccountNamespace": true, "images": true, "target": true}

// compileConditions reads attestation conditions (path names them in
// errors) and checks every expression in them.
func compileConditions(src, path string, blocks []kyvernoAnyAll) (*kyvernoConditions, error) {
	out := &kyvernoConditions{}
	for i, b := range blocks {
		bpath := fmt.Sprintf("%s[%d]", path, i)
		if len(b.Any) == 0 && len(b.All) == 0 {
			return nil, fieldError(src, bpath, "give any or all conditions")
		}
		var block conditionBlock
		block.hasAny = b.Any != nil
		for j, c := range b.Any {
			cc, err := compileCondition(src, fmt.Sprintf("%s.any[%d]", bpath, j), c)
			if err != nil {
				return nil, err
			}
			block.any = append(block.any, cc)
		}
		for j, c := range b.All {
			cc, err := compileCondition(src, fmt.Sprintf("%s.all[%d]", bpath, j), c)
			if err != nil {
				return nil, err
			}
			block.all = append(block.all, cc)
		}
		out.blocks = append(out.blocks, block)
	}
	return out, nil
}

func compileCondition(src, path string, c kyvernoCondition) (condition, error) {
	op, ok := kyvernoOperators[strings.ToLower(c.Operator)]
	if !ok {
		if c.Operator == "" {
			return condition{}, fieldError(src, path+".operator", "missing")
		}
		return condition{}, fieldError(src, path+".operator", "%q is not supported by dossier (supported: Equals, NotEquals, In, AnyIn, AllIn, NotIn, AnyNotIn, AllNotIn, GreaterThan, GreaterThanOrEquals, LessThan, LessThanOrEquals and the Duration… forms)", c.Operator)
	}
	key, err := jsonValue(&c.Key)
	if err != nil {
		return condition{}, fieldError(src, path+".key", "%v", err)
	}
	value, err := jsonValue(&c.Value)
	if err != nil {
		return condition{}, fieldError(src, path+".value", "%v", err)
	}
	if key == nil {
		return condition{}, fieldError(src, path+".key", "missing")
	}
	for _, part := range []struct {
		name string
		v    any
	}{{"key", key}, {"value", value}} {
		if err := checkVariables(part.v); err != nil {
			return condition{}, fieldError(src, path+"."+part.name, "%v", err)
		}
	}
	return condition{key: key, value: value, operator: c.Operator, op: op, message: c.Message}, nil
}

// jsonValue reads a YAML value as the JSON value Kyverno sees (numbers as
// float64).
func jsonValue(n *yaml.Node) (any, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not a JSON value: %v", err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkVariables compiles every variable in v's strings as evaluation
// would meet them (innermost first, each replaced by a placeholder), and
// refuses functions and context dossier does not have.
func checkVariables(v any) error {
	switch t := v.(type) {
	case string:
		s := t
		for round := 0; ; round++ {
			matches := variables(s)
			if len(matches) == 0 {
				return nil
			}
			if round == maxSubstitutionRounds {
				return fmt.Errorf("variables nested deeper than %d levels", maxSubstitutionRounds)
			}
			for _, m := range matches {
				expr, shallow := variableExpression(m)
				if shallow {
					return fmt.Errorf("%s: the shallow-substitution form {{- … }} is not supported by dossier", m)
				}
				if err := checkExpression(expr); err != nil {
					return fmt.Errorf("%s: %v", m, err)
				}
				s = strings.Replace(s, m, "x", 1)
			}
		}
	case []any:
		for _, e := range t {
			if err := checkVariables(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range t {
			if err := checkVariables(k); err != nil {
				return err
			}
			if err := checkVariables(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func variableExpression(v string) (expr string, shallow bool) {
	expr = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(v, "{{"), "}}"))
	if rest, ok := strings.CutPrefix(expr, "-"); ok {
		return strings.TrimSpace(rest), true
	}
	return expr, false
}

func checkExpression(expr string) error {
	if expr == "" {
		return fmt.Errorf("empty variable")
	}
	if expr == "@" {
		return fmt.Errorf("{{@}} refers to the admitted resource, which dossier does not judge conditions on")
	}
	node, err := parsing.NewParser().Parse(expr)
	if err != nil {
		return fmt.Errorf("not a JMESPath expression: %v", err)
	}
	return checkNode(node, true)
}

// checkNode walks an expression: functions must be known, JMESPath
// community extensions (let, variables, arithmetic) Kyverno does not
// have are refused, and so are roots of Kyverno's admission context.
func checkNode(n parsing.ASTNode, root bool) error {
	switch n.NodeType {
	case parsing.ASTFunctionExpression:
		name, _ := n.Value.(string)
		if !jmespathFunctions[name] && !isKyvernoFunction(name) {
			return fmt.Errorf("function %s is not supported by dossier (supported: JMESPath's own and %s)", name, strings.Join(kyvernoFunctionNames, ", "))
		}
		for _, c := range n.Children {
			if err := checkNode(c, true); err != nil {
				return err
			}
		}
		return nil
	case parsing.ASTLetExpression, parsing.ASTVariable, parsing.ASTBindings, parsing.ASTBinding,
		parsing.ASTArithmeticExpression, parsing.ASTArithmeticUnaryExpression:
		return fmt.Errorf("%s is not part of the JMESPath Kyverno evaluates", strings.TrimPrefix(n.NodeType.String(), "AST"))
	case parsing.ASTField:
		if name, _ := n.Value.(string); root && contextRoots[name] {
			return fmt.Errorf("%s is Kyverno admission context, which dossier does not have: conditions read the attestation's predicate and image.*", name)
		}
		return nil
	}
	for i, c := range n.Children {
		// the left side of a path starts at the root; what follows is
		// relative to it
		startsAtRoot := root
		switch n.NodeType {
		case parsing.ASTSubexpression, parsing.ASTIndexExpression, parsing.ASTProjection, parsing.ASTValueProjection,
			parsing.ASTFilterProjection, parsing.ASTPipe:
			startsAtRoot = root && i == 0
		case parsing.ASTExpRef:
			startsAtRoot = false
		}
		if err := checkNode(c, startsAtRoot); err != nil {
			return err
		}
	}
	return nil
}

func isKyvernoFunction(name string) bool {
	for _, n := range kyvernoFunctionNames {
		if n == name {
			return true
		}
	}
	return false
}

// Check evaluates the conditions: every block must hold (in a block, one
// of any — when given — and all of all).
func (c *kyvernoConditions) Check(predicate []byte, image ImageFacts, now time.Time) string {
	data := map[string]any{}
	var p any
	if err := json.Unmarshal(predicate, &p); err != nil {
		return fmt.Sprintf("its predicate is not JSON: %v", err)
	}
	if m, ok := p.(map[string]any); ok {
		data = m
	}
	if _, ok := data["image"]; !ok {
		data["image"] = imageContext(image)
	}
	clock := clocks.Get().(*conditionClock)
	defer clocks.Put(clock)
	clock.now = now
	ev := &conditionEvaluator{data: data, caller: clock.caller}
	for i, b := range c.blocks {
		if why := ev.block(b); why != "" {
			if len(c.blocks) > 1 {
				return fmt.Sprintf("conditions[%d]: %s", i, why)
			}
			return why
		}
	}
	return ""
}

type conditionEvaluator struct {
	data   map[string]any
	caller interpreter.FunctionCaller
}

func (ev *conditionEvaluator) block(b conditionBlock) string {
	if b.hasAny {
		var why []string
		held := false
		for _, c := range b.any {
			ok, reason := ev.condition(c)
			if ok {
				held = true
				break
			}
			why = append(why, reason)
		}
		if !held {
			return "no condition of any holds: " + strings.Join(why, "; ")
		}
	}
	for _, c := range b.all {
		if ok, reason := ev.condition(c); !ok {
			return reason
		}
	}
	return ""
}

// condition evaluates one condition and says why it does not hold.
func (ev *conditionEvaluator) condition(c condition) (bool, string) {
	key, err := ev.substitute(c.key)
	if err != nil {
		return false, fmt.Sprintf("condition key %v: %v", c.key, err)
	}
	value, err := ev.substitute(c.value)
	if err != nil {
		return false, fmt.Sprintf("condition value %v: %v", c.value, err)
	}
	if compare(c.op, key, value) {
		return true, ""
	}
	if c.message != "" {
		return false, c.message
	}
	return false, fmt.Sprintf("%s %s %s does not hold", show(key), c.operator, show(value))
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// substitute replaces the variables in v's strings as Kyverno does: the
// innermost first, again until none is left; a string that is one
// variable takes its value's type. A value that would be read as part of
// a further expression must not be able to change it: one holding a
// quote or backslash there is refused, and {{ in a value is never
// evaluated.
func (ev *conditionEvaluator) substitute(v any) (any, error) {
	switch t := v.(type) {
	case string:
		return ev.substituteString(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			s, err := ev.substitute(e)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			s, err := ev.substitute(e)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	}
	return v, nil
}

func (ev *conditionEvaluator) substituteString(s string) (any, error) {
	const escaped = "{\x00{" // a value's own {{, never evaluated
	for round := 0; ; round++ {
		matches := variables(s)
		if len(matches) == 0 {
			break
		}
		if round == maxSubstitutionRounds {
			return nil, fmt.Errorf("variables nested deeper than %d levels", maxSubstitutionRounds)
		}
		for _, m := range matches {
			expr, _ := variableExpression(m)
			result, err := ev.search(expr)
			if err != nil {
				return nil, err
			}
			if s == m {
				return result, nil
			}
			text, ok := result.(string)
			if !ok {
				data, err := json.Marshal(result)
				if err != nil {
					return nil, err
				}
				text = string(data)
			}
			next := strings.Replace(s, m, strings.ReplaceAll(text, "{{", escaped), 1)
			if strings.ContainsAny(text, `'\`) && len(variables(next)) > 0 {
				return nil, fmt.Errorf("the value of %s (%q) would become part of another expression; a value holding ' or \\ cannot be", expr, text)
			}
			if len(next) > maxSubstitutedLength {
				return nil, fmt.Errorf("longer than %d KiB after substitution", maxSubstitutedLength>>10)
			}
			s = next
		}
	}
	// \{{ is how a policy writes a literal {{
	return strings.ReplaceAll(strings.ReplaceAll(s, `\{{`, "{{"), escaped, "{{"), nil
}

func (ev *conditionEvaluator) search(expr string) (any, error) {
	node, err := expressions.get(expr, parseChecked)
	if err != nil {
		return nil, err
	}
	out, err := interpreter.NewInterpreter(ev.data, ev.caller, nil).Execute(node, ev.data)
	if err != nil {
		return nil, fmt.Errorf("JMESPath query %q failed: %v", expr, err)
	}
	return out, nil
}

// imageContext is Kyverno's image.* for the image judged.
func imageContext(im ImageFacts) map[string]any {
	ref := im.Reference
	if ref == "" {
		ref = im.Subject.String()
	}
	name, digest, _ := strings.Cut(ref, "@")
	if digest == "" {
		digest = im.Subject.Digest
	}
	tag := ""
	if repo, t, ok := splitKyvernoTag(name); ok {
		name, tag = repo, t
	}
	repo := kyvernoRepository(name)
	registry, path, _ := strings.Cut(repo, "/")
	if registry == evidence.DockerHub {
		registry = "docker.io" // as Kyverno names Docker Hub
		repo = registry + "/" + path
	}
	short := path
	if i := strings.LastIndex(path, "/"); i >= 0 {
		short = path[i+1:]
	}
	withTag := repo
	if tag != "" {
		withTag += ":" + tag
	}
	reference := withTag
	if digest != "" {
		reference = repo + "@" + digest
	}
	return map[string]any{"reference": reference, "referenceWithTag": withTag, "registry": registry, "path": path,
		"name": short, "tag": tag, "digest": digest}
}

func splitKyvernoTag(name string) (string, string, bool) {
	slash := strings.LastIndex(name, "/")
	colon := strings.LastIndex(name, ":")
	if colon <= slash || colon == len(name)-1 {
		return name, "", false
	}
	return name[:colon], name[colon+1:], true
}

// conditionClock is a function table whose time functions read now: one
// per evaluation at a time (from clocks), as building the table costs more
// than evaluating most conditions.
type conditionClock struct {
	now    time.Time
	caller interpreter.FunctionCaller
}

var clocks = sync.Pool{New: func() any {
	c := &conditionClock{}
	c.caller = interpreter.NewFunctionCaller(append(functions.GetDefaultFunctions(), kyvernoFunctions(&c.now)...)...)
	return c
}}

// boundedCache keeps what conditions compile (regular expressions of
// regex_match and wildcards, parsed JMESPath expressions), bounded: most
// come from the policy and repeat; one made of predicate values may not.
type boundedCache[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

const maxCached = 512

func (c *boundedCache[T]) get(key string, make func(string) (T, error)) (T, error) {
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := make(key)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]T{}
	}
	c.m[key] = v
	c.mu.Unlock()
	return v, nil
}

var (
	regexps     boundedCache[*regexp.Regexp]
	expressions boundedCache[parsing.ASTNode]
)

// parseChecked parses an expression and checks it as the loader does.
func parseChecked(expr string) (parsing.ASTNode, error) {
	node, err := parsing.NewParser().Parse(expr)
	if err != nil {
		return node, fmt.Errorf("%q is not a JMESPath expression: %v", expr, err)
	}
	if err := checkNode(node, true); err != nil {
		return node, fmt.Errorf("%q: %v", expr, err)
	}
	return node, nil
}

// kyvernoFunctions are the Kyverno JMESPath functions dossier implements,
// with *now as the clock.
func kyvernoFunctions(clock *time.Time) []functions.FunctionEntry {
	str := functions.ArgSpec{Types: []functions.JpType{functions.JpString}}
	strOrNumber := functions.ArgSpec{Types: []functions.JpType{functions.JpString, functions.JpNumber}}
	parse := func(layout, s string) (time.Time, error) {
		if layout == "" {
			layout = time.RFC3339
		}
		return time.Parse(layout, s)
	}
	return []functions.FunctionEntry{
		{Name: "regex_match", Arguments: []functions.ArgSpec{str, strOrNumber}, Handler: func(a []any) (any, error) {
			re, err := regexps.get(a[0].(string), regexp.Compile)
			if err != nil {
				return nil, err
			}
			return re.MatchString(argString(a[1])), nil
		}},
		{Name: "pattern_match", Arguments: []functions.ArgSpec{str, strOrNumber}, Handler: func(a []any) (any, error) {
			return wildcardMatch(a[0].(string), argString(a[1])), nil
		}},
		{Name: "equal_fold", Arguments: []functions.ArgSpec{str, str}, Handler: func(a []any) (any, error) {
			return strings.EqualFold(a[0].(string), a[1].(string)), nil
		}},
		{Name: "to_upper", Arguments: []functions.ArgSpec{str}, Handler: func(a []any) (any, error) { return strings.ToUpper(a[0].(string)), nil }},
		{Name: "to_lower", Arguments: []functions.ArgSpec{str}, Handler: func(a []any) (any, error) { return strings.ToLower(a[0].(string)), nil }},
		{Name: "time_now_utc", Handler: func([]any) (any, error) { return clock.UTC().Format(time.RFC3339), nil }},
		{Name: "time_since", Arguments: []functions.ArgSpec{str, str, str}, Handler: func(a []any) (any, error) {
			t1, err := parse(a[0].(string), a[1].(string))
			if err != nil {
				return nil, err
			}
			t2 := *clock
			if s := a[2].(string); s != "" {
				if t2, err = parse(a[0].(string), s); err != nil {
					return nil, err
				}
			}
			return t2.Sub(t1).String(), nil
		}},
		{Name: "time_after", Arguments: []functions.ArgSpec{str, str}, Handler: func(a []any) (any, error) {
			t1, t2, err := twoTimes(a)
			return err == nil && t1.After(t2), err
		}},
		{Name: "time_before", Arguments: []functions.ArgSpec{str, str}, Handler: func(a []any) (any, error) {
			t1, t2, err := twoTimes(a)
			return err == nil && t1.Before(t2), err
		}},
	}
}

func twoTimes(a []any) (time.Time, time.Time, error) {
	t1, err := time.Parse(time.RFC3339, a[0].(string))
	if err != nil {
		return t1, t1, err
	}
	t2, err := time.Parse(time.RFC3339, a[1].(string))
	return t1, t2, err
}

func argString(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// compare applies a Kyverno operator (the subset of its type coercions
// dossier implements: booleans, numbers, durations, strings with
// wildcards, lists and objects compared deeply).
func compare(op conditionOperator, key, value any) bool {
	switch op {
	case opEquals:
		return equals(key, value)
	case opNotEquals:
		return !equals(key, value)
	case opAnyIn:
		return anyIn(keySet(key), value)
	case opIn, opAllIn:
		return allIn(keySet(key), value)
	case opNotIn:
		return !allIn(keySet(key), value)
	case opAnyNotIn:
		return anyNotIn(keySet(key), value)
	case opAllNotIn:
		return !anyIn(keySet(key), value)
	}
	return numeric(op, key, value)
}

func equals(key, value any) bool {
	switch k := key.(type) {
	case bool:
		v, ok := value.(bool)
		return ok && k == v
	case float64:
		switch v := value.(type) {
		case float64:
			return k == v
		case string:
			f, err := strconv.ParseFloat(v, 64)
			return err == nil && f == k
		}
		return false
	case string:
		if kd, vd, ok := durations(key, value); ok {
			return kd == vd
		}
		v, ok := value.(string)
		return ok && wildcardMatch(v, k)
	case []any, map[string]any:
		kj, err1 := json.Marshal(k)
		vj, err2 := json.Marshal(value)
		return err1 == nil && err2 == nil && string(kj) == string(vj)
	}
	return false
}

// keySet is a key as the set operators read it: a list's elements, or
// the one value, as strings.
func keySet(key any) []string {
	switch k := key.(type) {
	case []any:
		out := make([]string, len(k))
		for i, e := range k {
			out[i] = argString(e)
		}
		return out
	case nil:
		return nil
	}
	return []string{argString(key)}
}

// valueSet is the value of a set operator: a list, one scalar, or a string
// holding a JSON list.
func valueSet(value any) []string {
	switch v := value.(type) {
	case []any:
		return keySet(v)
	case string:
		var list []string
		if json.Valid([]byte(v)) && json.Unmarshal([]byte(v), &list) == nil {
			return list
		}
		return []string{v}
	case nil:
		return nil
	}
	return []string{argString(value)}
}

func inSet(k string, values []string) bool {
	for _, v := range values {
		if wildcardMatch(v, k) || wildcardMatch(k, v) {
			return true
		}
	}
	return false
}

func anyIn(keys []string, value any) bool {
	values := valueSet(value)
	for _, k := range keys {
		if inSet(k, values) {
			return true
		}
	}
	return false
}

func allIn(keys []string, value any) bool {
	values := valueSet(value)
	if len(keys) == 0 {
		return false
	}
	for _, k := range keys {
		if !inSet(k, values) {
			return false
		}
	}
	return true
}

func anyNotIn(keys []string, value any) bool {
	values := valueSet(value)
	for _, k := range keys {
		if !inSet(k, values) {
			return true
		}
	}
	return false
}

// durations reads both sides as durations when one is a duration string
// and the other a duration or a number of seconds.
func durations(key, value any) (time.Duration, time.Duration, bool) {
	kd, kok := asDuration(key)
	vd, vok := asDuration(value)
	if !kok && !vok {
		return 0, 0, false
	}
	if !kok {
		f, ok := key.(float64)
		if !ok {
			return 0, 0, false
		}
		kd = time.Duration(f * float64(time.Second))
	}
	if !vok {
		f, ok := value.(float64)
		if !ok {
			return 0, 0, false
		}
		vd = time.Duration(f * float64(time.Second))
	}
	return kd, vd, true
}

func asDuration(v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok || s == "0" {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

func numeric(op conditionOperator, key, value any) bool {
	var k, v float64
	if kd, vd, ok := durations(key, value); ok {
		k, v = kd.Seconds(), vd.Seconds()
	} else {
		var kok, vok bool
		k, kok = number(key)
		v, vok = number(value)
		if !kok || !vok {
			return false
		}
	}
	switch op {
	case opGreaterThan:
		return k > v
	case opGreaterThanOrEquals:
		return k >= v
	case opLessThan:
		return k < v
	case opLessThanOrEquals:
		return k <= v
	}
	return false
}

func number(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, !math.IsNaN(t)
	case string:
		f, err := strconv.ParseFloat(t, 64)
		return f, err == nil && !math.IsNaN(f)
	}
	return 0, false
}
