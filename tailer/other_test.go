package tailer

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// value decodes JSON the way the rest of the hub reads other (numbers as json.Number, so 10 and
// 10.0 stay apart).
func value(t testing.TB, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return v
}

// TestDecodeOther_Forms decodes the PHP serialize() and the JSON form of the same Moodle data
// and wants one structure. The JSON forms are what Moodle's json_encode writes (escaped slashes
// and \u escapes included); the PHP forms what serialize() writes for the same PHP value.
func TestDecodeOther_Forms(t *testing.T) {
	longList := func(n int) (string, string) {
		var p, j strings.Builder
		fmt.Fprintf(&p, "a:%d:{", n)
		j.WriteString("[")
		for i := range n {
			s := fmt.Sprintf("item %d é", i)
			fmt.Fprintf(&p, "i:%d;s:%d:\"%s\";", i, len(s), s)
			if i > 0 {
				j.WriteString(",")
			}
			fmt.Fprintf(&j, "%q", s)
		}
		p.WriteString("}")
		j.WriteString("]")
		return p.String(), j.String()
	}
	longPHP, longJSON := longList(500)
	tests := []struct {
		name, php, json string
	}{
		{"null", `N;`, `null`},
		{"user_password_updated", `a:1:{s:14:"forgottenreset";b:0;}`, `{"forgottenreset":false}`},
		{"role_assigned", `a:3:{s:2:"id";i:12;s:9:"component";s:0:"";s:6:"itemid";i:0;}`,
			`{"id":12,"component":"","itemid":0}`},
		// role_unassigned logs the same keys with string values: they must stay strings.
		{"role_unassigned strings", `a:3:{s:2:"id";s:2:"12";s:9:"component";s:0:"";s:6:"itemid";s:1:"0";}`,
			`{"id":"12","component":"","itemid":"0"}`},
		{"user_loggedin", `a:2:{s:8:"username";s:4:"jdoe";s:13:"extrauserinfo";a:0:{}}`,
			`{"username":"jdoe","extrauserinfo":[]}`},
		{"user_login_failed", `a:2:{s:8:"username";s:5:"guest";s:6:"reason";i:3;}`, `{"username":"guest","reason":3}`},
		{"course_created utf-8", `a:2:{s:9:"shortname";s:5:"CS101";s:8:"fullname";s:22:"Intro — Café 東京";}`,
			`{"shortname":"CS101","fullname":"Intro \u2014 Caf\u00e9 \u6771\u4eac"}`},
		{"user_enrolment_deleted", `a:2:{s:13:"userenrolment";a:5:{s:2:"id";s:1:"5";s:6:"status";s:1:"0";s:7:"enrolid";s:1:"3";s:9:"lastenrol";b:1;s:5:"enrol";s:6:"manual";}s:5:"enrol";s:6:"manual";}`,
			`{"userenrolment":{"id":"5","status":"0","enrolid":"3","lastenrol":true,"enrol":"manual"},"enrol":"manual"}`},
		{"user_graded", `a:3:{s:6:"itemid";i:7;s:10:"overridden";b:0;s:10:"finalgrade";d:85.5;}`,
			`{"itemid":7,"overridden":false,"finalgrade":85.5}`},
		{"integral float", `a:1:{s:5:"grade";d:10;}`, `{"grade":10}`},
		{"php 5 float precision", `d:0.10000000000000001;`, `0.1`},
		{"big float", `d:1.0E+25;`, `1.0e+25`},
		{"small float", `d:1.0E-5;`, `1.0e-5`},
		{"negative ints", `a:2:{i:0;i:-1;i:1;i:-9223372036854775808;}`, `[-1,-9223372036854775808]`},
		{"stdClass", `O:8:"stdClass":2:{s:1:"a";i:1;s:1:"b";a:2:{i:0;s:1:"x";i:1;s:1:"y";}}`, `{"a":1,"b":["x","y"]}`},
		{"empty stdClass", `O:8:"stdClass":0:{}`, `{}`},
		{"keys not 0..n-1", `a:2:{i:1;s:1:"a";i:2;s:1:"b";}`, `{"1":"a","2":"b"}`},
		{"keys out of order", `a:2:{i:1;s:1:"b";i:0;s:1:"a";}`, `{"1":"b","0":"a"}`},
		{"numeric string keys are integers", `a:2:{s:1:"0";s:1:"a";s:1:"1";s:1:"b";}`, `["a","b"]`},
		{"non-canonical numeric keys stay strings", `a:2:{s:2:"01";i:1;s:2:"-0";i:2;}`, `{"01":1,"-0":2}`},
		{"duplicate key keeps place, takes last", `a:2:{i:0;i:5;i:0;i:6;}`, `[6]`},
		{"R: reference", `a:2:{i:0;a:1:{s:1:"k";i:1;}i:1;R:2;}`, `[{"k":1},{"k":1}]`},
		// Slots: 1 the array, 2 the object, 3 its property, 4 the r: (R: takes none).
		{"r: object reference", `a:3:{i:0;O:8:"stdClass":1:{s:1:"k";i:1;}i:1;r:2;i:2;R:4;}`, `[{"k":1},{"k":1},{"k":1}]`},
		{"R: to a property", `a:3:{i:0;O:8:"stdClass":1:{s:1:"k";i:1;}i:1;r:2;i:2;R:3;}`, `[{"k":1},{"k":1},1]`},
		{"private and protected properties", "O:3:\"Foo\":3:{s:6:\"\x00Foo\x00x\";i:1;s:4:\"\x00*\x00p\";i:2;s:1:\"y\";i:3;}",
			`{"__PHP_Incomplete_Class_Name":"Foo","y":3}`},
		{"backslashes", `s:24:"\core\event\user_created";`, `"\\core\\event\\user_created"`},
		{"quotes and newlines", "s:9:\"a\"b\nc/d\\e\";", `"a\"b\nc\/d\\e"`},
		{"escaped S: string", `S:3:"a\00b";`, `"a\u0000b"`},
		{"trailing data ignored as PHP does", `i:1;garbage`, `1`},
		{"long", longPHP, longJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeOther(tc.php)
			if err != nil {
				t.Fatalf("PHP form: %v", err)
			}
			j, err := DecodeOther(tc.json)
			if err != nil {
				t.Fatalf("JSON form: %v", err)
			}
			if got, want := value(t, p), value(t, j); !reflect.DeepEqual(got, want) {
				t.Errorf("PHP form decodes to %s, JSON form to %s", p, j)
			}
		})
	}
}

func TestDecodeOther_Special(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty is null", "", "null"},
		{"null text", "null", "null"},
		{"JSON kept byte for byte", `{"b":1, "a":[1.0,2]}`, `{"b":1, "a":[1.0,2]}`},
		// Moodle's /^.:/ does not match a newline as first byte: that is JSON (here invalid).
		{"scalar JSON", `"x:y"`, `"x:y"`},
		{"JSON string starting with a colon", `":00"`, `":00"`},
		{"PHP float formats", `a:6:{i:0;d:0.1;i:1;d:0.0001;i:2;d:1.0E+16;i:3;d:1.0E+17;i:4;d:-0;i:5;d:1.5E-7;}`,
			`[0.1,0.0001,10000000000000000,1.0e+17,-0,1.5e-7]`},
		{"control characters", "s:4:\"\b\f\x01\t\";", `"\b\f\u0001\t"`},
		{"line separators escaped as json_encode does", "s:6:\"\u2028\u2029\";", `"\u2028\u2029"`},
		{"invalid UTF-8 substituted", "s:2:\"\xff!\";", `"\ufffd!"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeOther(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// billion builds nested references that double the output at each level.
func billion(levels int) string {
	var b strings.Builder
	for range levels {
		b.WriteString("a:2:{i:0;")
	}
	b.WriteString(`s:1000:"` + strings.Repeat("x", 1000) + `";`)
	// Slot numbers: the outermost array is 1, each nested array the next; the string is
	// levels+1. Closing level k (innermost first) its second element refers to its first.
	slot := levels + 1
	for range levels {
		fmt.Fprintf(&b, "i:1;R:%d;}", slot)
		slot--
	}
	return b.String()
}

func TestDecodeOther_Errors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"invalid JSON", `{"a":`},
		{"truncated string", `s:5:"abc";`},
		{"string without closing quote", `s:3:"abcd";`},
		{"negative length", `s:-1:"";`},
		{"huge count", `a:99999999999:{}`},
		{"int overflow", `i:99999999999999999999;`},
		{"bad int", `i:1x;`},
		{"bad bool", `b:2;`},
		{"infinity has no JSON", `d:INF;`},
		{"NaN has no JSON", `d:NAN;`},
		{"hex float", `d:0x1p3;`},
		{"Serializable class", `C:3:"Foo":0:{}`},
		{"enum", `E:7:"Foo:Bar";`},
		{"unknown type", `x:1;`},
		{"recursive reference", `a:1:{i:0;R:1;}`},
		{"reference out of range", `a:1:{i:0;R:5;}`},
		{"reference as key", `a:1:{R:1;i:0;}`},
		{"missing brace", `a:1:{i:0;i:1;`},
		{"too deep", strings.Repeat("a:1:{i:0;", MaxOtherDepth+1) + "N;" + strings.Repeat("}", MaxOtherDepth+1)},
		{"references expand over the size bound", billion(16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeOther(tc.in)
			if err == nil {
				t.Fatalf("got %.80s, want an error", got)
			}
		})
	}
	// Below the bound the same construction works and expands.
	got, err := DecodeOther(billion(4))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(got), strings.Repeat("x", 1000)); n != 16 {
		t.Errorf("got %d copies, want 16", n)
	}
}

// phpCases is a PHP program that builds random values of the kinds Moodle logs (arrays, lists,
// stdClass objects, references, every scalar) and prints, per value, serialize($v), the JSON
// Moodle stores (json_encode($v)) and json_encode with unescaped slashes and Unicode, base64'd.
const phpCases = `<?php
mt_srand((int)$argv[1]);
function rstr() {
    $parts = ['a', 'é', '東', '\\', '"', '/', "\n", "\t", ' ', 'x', '0', '😀', ':', ';', '{', '}', "\x01"];
    $s = '';
    for ($i = mt_rand(0, 8); $i > 0; $i--) { $s .= $parts[mt_rand(0, count($parts) - 1)]; }
    return $s;
}
function rfloat() {
    $f = [0.1, 85.5, 10.0, -2.5, 1e25, 1.5e-7, 0.0001, 1e16, 1e17, 123456789.125, -0.0, 3.0e-300];
    if (mt_rand(0, 1)) { return $f[mt_rand(0, count($f) - 1)]; }
    return mt_rand(-1000000, 1000000) / mt_rand(1, 1000) * (10 ** mt_rand(-20, 20));
}
function rkey() {
    switch (mt_rand(0, 3)) {
    case 0: return mt_rand(-3, 20);
    case 1: return (string)mt_rand(0, 5);
    case 2: return '0' . mt_rand(0, 9);
    default: return rstr();
    }
}
function rval($depth) {
    $k = mt_rand(0, $depth > 3 ? 5 : 9);
    switch ($k) {
    case 0: return null;
    case 1: return (bool)mt_rand(0, 1);
    case 2: return mt_rand(-2147483648, 2147483647) * (mt_rand(0, 1) ? 1 : 4294967296);
    case 3: return rfloat();
    case 4: case 5: return rstr();
    case 6: $a = []; for ($i = mt_rand(0, 4); $i > 0; $i--) { $a[] = rval($depth + 1); } return $a;
    case 7: $a = []; for ($i = mt_rand(0, 4); $i > 0; $i--) { $a[rkey()] = rval($depth + 1); } return $a;
    case 8: $o = new stdClass(); for ($i = mt_rand(0, 3); $i > 0; $i--) { $o->{rstr()} = rval($depth + 1); } return $o;
    default:
        $o = new stdClass(); $o->v = rval($depth + 1);
        $a = [rval($depth + 1), $o];
        $a[] = $o;                 // the same object twice: r:
        $a[] = &$a[0];             // a PHP reference: R:
        return $a;
    }
}
for ($i = 0; $i < (int)$argv[2]; $i++) {
    $v = ['case' => $i, 'v' => rval(0)];
    echo base64_encode(serialize($v)), "\t", base64_encode(json_encode($v)), "\t",
        base64_encode(json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)), "\n";
}
`

// TestDecodeOther_PHP checks the decoder against PHP itself, when php is installed: for random
// values, the decoded serialize() output is byte for byte what json_encode writes (with slashes and
// Unicode unescaped, which are only spellings), and the same structure as the JSON Moodle stores.
func TestDecodeOther_PHP(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php is not installed (apt-get install php-cli); the decoder is checked against the table and fuzz tests only")
	}
	const n = 3000
	cmd := exec.CommandContext(t.Context(), php, "-d", "error_reporting=E_ALL", "-d", "display_errors=stderr", "-r",
		strings.TrimPrefix(phpCases, "<?php\n"), "--", "42", strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php: %v: %s", err, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	count := 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			t.Fatalf("line %d: %q", count, sc.Text())
		}
		var raw [3][]byte
		for i := range f {
			if raw[i], err = base64.StdEncoding.DecodeString(f[i]); err != nil {
				t.Fatal(err)
			}
		}
		got, err := DecodeOther(string(raw[0]))
		if err != nil {
			t.Fatalf("case %d: %v\nserialized: %q", count, err, raw[0])
		}
		if !bytes.Equal(got, raw[2]) {
			t.Errorf("case %d:\nserialized %q\ngot  %s\nwant %s", count, raw[0], got, raw[2])
		}
		stored, err := DecodeOther(string(raw[1]))
		if err != nil {
			t.Fatalf("case %d: JSON form: %v", count, err)
		}
		if !reflect.DeepEqual(value(t, got), value(t, stored)) {
			t.Errorf("case %d: PHP form %s and JSON form %s differ", count, got, stored)
		}
		count++
	}
	if count != n {
		t.Fatalf("got %d cases from php, want %d", count, n)
	}
}

// FuzzDecodeOther feeds arbitrary text: the decoder never panics, stays in its bounds, and what
// it returns is valid JSON. Inputs that expand to a megabyte take the fuzzer long to minimize, so
// run it with a short -fuzzminimizetime:
//
//	go test -run '^$' -fuzz FuzzDecodeOther -fuzztime 1m -fuzzminimizetime 3s ./tailer/
func FuzzDecodeOther(f *testing.F) {
	for _, s := range []string{
		`N;`, `null`, `a:1:{s:1:"a";i:1;}`, `O:8:"stdClass":1:{s:1:"k";a:0:{}}`, `a:2:{i:0;a:0:{}i:1;R:2;}`,
		`a:2:{i:0;O:8:"stdClass":0:{}i:1;r:2;}`, `d:0.1;`, `S:2:"\41b";`, `s:3:"é";`, billion(3),
		`{"a":[1,2,{"b":null}]}`, "O:3:\"Foo\":1:{s:6:\"\x00Foo\x00x\";i:1;}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := DecodeOther(in)
		if err != nil {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %q from %q", got, in)
		}
		if len(got) > MaxOtherSize+len(in) {
			t.Fatalf("%d bytes of JSON from %d bytes", len(got), len(in))
		}
	})
}

// FuzzOtherForms builds a value from the fuzzer's bytes, writes it as PHP serialize() and as
// json_encode would, and wants both forms to decode to the same structure.
func FuzzOtherForms(f *testing.F) {
	f.Add([]byte{7, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{6, 6, 6, 2, 0, 4, 1, 3, 200, 100})
	f.Add([]byte("the quick brown fox jumps over the lazy dog"))
	f.Fuzz(func(t *testing.T, seed []byte) {
		g := &gen{b: seed}
		v := g.value(0)
		var php, js strings.Builder
		writePHP(&php, v)
		writeJSON(&js, v)
		p, err := DecodeOther(php.String())
		if err != nil {
			t.Fatalf("PHP form %q: %v", php.String(), err)
		}
		j, err := DecodeOther(js.String())
		if err != nil {
			t.Fatalf("JSON form %q: %v", js.String(), err)
		}
		if !reflect.DeepEqual(value(t, p), value(t, j)) {
			t.Fatalf("PHP form %q → %s\nJSON form %s", php.String(), p, j)
		}
	})
}

// A generated value: nil, bool, int64, string, ordered arrays (entry) or objects (obj).
type (
	entry struct {
		key any // int64 or string
		val any
	}
	array []entry
	obj   []entry
)

type gen struct {
	b []byte
	i int
}

func (g *gen) next() int {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

func (g *gen) str() string {
	n := g.next() % 6
	var s strings.Builder
	for range n {
		r := rune(g.next())
		if g.next()%4 == 0 {
			r = rune(0x400 + g.next()*7) // multi-byte UTF-8
		}
		if !utf8.ValidRune(r) {
			r = 'x'
		}
		s.WriteRune(r)
	}
	return s.String()
}

func (g *gen) value(depth int) any {
	k := g.next() % 8
	if depth > 4 {
		k %= 5
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.next()%2 == 1
	case 2:
		return int64(g.next()-128) * int64(g.next()+1) * 1000003
	case 3, 4:
		return g.str()
	case 5:
		var a array
		for i := range g.next() % 4 {
			a = append(a, entry{int64(i), g.value(depth + 1)})
		}
		return a
	case 6:
		var a array
		seen := map[string]bool{}
		for range g.next() % 4 {
			var key any = g.str()
			if g.next()%2 == 0 {
				key = int64(g.next() % 5)
			}
			if seen[fmt.Sprint(key)] {
				continue
			}
			seen[fmt.Sprint(key)] = true
			a = append(a, entry{key, g.value(depth + 1)})
		}
		return a
	default:
		var o obj
		seen := map[string]bool{}
		for range g.next() % 3 {
			// PHP has no public property whose name starts with NUL: that marks private ones.
			key := strings.TrimLeft(g.str(), "\x00")
			if seen[key] {
				continue
			}
			seen[key] = true
			o = append(o, entry{key, g.value(depth + 1)})
		}
		return o
	}
}

func writePHP(b *strings.Builder, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("N;")
	case bool:
		if t {
			b.WriteString("b:1;")
		} else {
			b.WriteString("b:0;")
		}
	case int64:
		fmt.Fprintf(b, "i:%d;", t)
	case string:
		fmt.Fprintf(b, "s:%d:\"%s\";", len(t), t)
	case array:
		fmt.Fprintf(b, "a:%d:{", len(t))
		for _, e := range t {
			writePHP(b, e.key)
			writePHP(b, e.val)
		}
		b.WriteString("}")
	case obj:
		fmt.Fprintf(b, "O:8:\"stdClass\":%d:{", len(t))
		for _, e := range t {
			writePHP(b, e.key)
			writePHP(b, e.val)
		}
		b.WriteString("}")
	}
}

// writeJSON writes v as json_encode does: an array with keys 0..n-1 in order is a list,
// numeric-string keys are integers first.
func writeJSON(b *strings.Builder, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool, int64:
		fmt.Fprint(b, t)
	case string:
		s, _ := json.Marshal(t)
		b.Write(s)
	case array:
		list := true
		for i, e := range t {
			if k := keyOf(e.key); k != strconv.Itoa(i) || !isIntKey(e.key) {
				list = false
			}
		}
		if list {
			b.WriteString("[")
			for i, e := range t {
				if i > 0 {
					b.WriteString(",")
				}
				writeJSON(b, e.val)
			}
			b.WriteString("]")
			return
		}
		writeObject(b, t)
	case obj:
		writeObject(b, t)
	}
}

func writeObject(b *strings.Builder, es []entry) {
	b.WriteString("{")
	for i, e := range es {
		if i > 0 {
			b.WriteString(",")
		}
		k, _ := json.Marshal(keyOf(e.key))
		b.Write(k)
		b.WriteString(":")
		writeJSON(b, e.val)
	}
	b.WriteString("}")
}

func keyOf(k any) string { return fmt.Sprint(k) }

// isIntKey applies PHP's key rule: an int, or a string spelling a canonical integer.
func isIntKey(k any) bool {
	switch t := k.(type) {
	case int64:
		return true
	case string:
		n, err := strconv.ParseInt(t, 10, 64)
		return err == nil && strconv.FormatInt(n, 10) == t
	}
	return false
}
