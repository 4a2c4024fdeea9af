package event

import (
	"encoding/json"
	"testing"
)

func TestToNumber(t *testing.T) {
	tests := []struct {
		in   any
		want string
		ok   bool
	}{
		{json.Number("87.5"), "87.5", true},
		{"87.50000", "87.50000", true},
		{" 12 ", "12", true},
		{"+1", "1", true},
		{".5", "0.5", true},
		{"007", "7", true},
		{"5.", "5", true},
		{"1e3", "1e3", true},
		{"-2.5E-1", "-2.5E-1", true},
		{"0x10", "", false},
		{"1_000", "", false},
		{"1e999", "", false},
		{"NaN", "", false},
		{"Inf", "", false},
		{"", "", false},
		{"A+", "", false},
		{true, "", false},
	}
	for _, tc := range tests {
		got, ok := toNumber(tc.in)
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("toNumber(%#v) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
