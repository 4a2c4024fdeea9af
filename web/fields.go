package web

import "strings"

// field is one form control as the "input", "secret" and "check" partials draw it: a label, the
// value (never for a secret), a hint and the field's error, tied together with ids so that a
// screen reader reads the hint and the error with the control.
type field struct {
	ID, Name, Label, Type, Value, Hint, Error string
	Stored                                    bool
	Autocomplete                              string
}

func fieldID(name string) string { return "f-" + strings.NewReplacer(".", "-", "_", "-").Replace(name) }

func inputField(v, errs map[string]string, name, label, typ, hint string) field {
	return field{ID: fieldID(name), Name: name, Label: label, Type: typ, Value: v[name], Hint: hint, Error: errs[name], Autocomplete: "off"}
}

// secretField never carries the secret's value: only whether one is stored.
func secretField(stored map[string]bool, errs map[string]string, name, label, hint string) field {
	return field{ID: fieldID(name), Name: name, Label: label, Type: "password", Hint: hint, Error: errs[name], Stored: stored[name]}
}

func checkField(v map[string]string, name, label, hint string) field {
	return field{ID: fieldID(name), Name: name, Label: label, Type: "checkbox", Value: v[name], Hint: hint}
}
