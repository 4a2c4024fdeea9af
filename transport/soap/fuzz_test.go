package soap

import (
	"encoding/json"
	"net/url"
	"testing"
)

// FuzzParseWSDL: any document a WSDL URL answers is parsed or refused without a panic, and
// every operation found can build a request from a JSON object without a panic.
func FuzzParseWSDL(f *testing.F) {
	f.Add([]byte(usersWSDL(soap11, true, "http://127.0.0.1:1/soap")))
	f.Add([]byte(usersWSDL(soap12, false, "/soap")))
	f.Add([]byte(opWSDL(featureSchemas)))
	f.Add([]byte(`<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"><import location="x"/></definitions>`))
	base, _ := url.Parse("http://127.0.0.1:1/svc?wsdl")
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := parseWSDL(b, base)
		if err != nil {
			return
		}
		for _, op := range doc.ops {
			if op.unsupported == "" {
				buildEnvelope(doc.schema, op, json.RawMessage(`{"a":1,"b":[true,"x"],"c":{"d":null}}`))
			}
		}
	})
}

// FuzzParseResponse: whatever a SOAP endpoint answers becomes JSON or an error, never a panic,
// and the JSON is valid.
func FuzzParseResponse(f *testing.F) {
	doc, err := parseWSDL([]byte(opWSDL(featureSchemas)), &url.URL{Scheme: "http", Host: "127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	out := doc.ops["Op"].output
	env := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`
	for _, s := range []string{
		env + `<a:Resp xmlns:a="urn:a"><a:x>1</a:x></a:Resp></s:Body></s:Envelope>`,
		env + `<s:Fault><faultcode>s:Server</faultcode><faultstring>boom</faultstring></s:Fault></s:Body></s:Envelope>`,
		env + `<Other><v>1</v><v>2</v><w xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></Other></s:Body></s:Envelope>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?>` + env + `<R>caf` + "\xe9" + `</R></s:Body></s:Envelope>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parseResponse(b, doc.schema, out)
		if err != nil || res == nil {
			return
		}
		if res.body != nil && !json.Valid(res.body) {
			t.Fatalf("invalid JSON %q", res.body)
		}
	})
}
