package rule_test

import (
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
)

func TestFormatRules(t *testing.T) {
	r := &mih.Rule{Event: `\core\event\user_created`, Service: "lrs", Format: mih.FormatXAPI}
	if _, err := rule.Compile(r); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("xapi rule for an event without a statement: %v, want invalid", err)
	}
	r = &mih.Rule{Event: `*`, Service: "lrs", Format: "XAPI "}
	c, err := rule.Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != mih.FormatXAPI {
		t.Errorf("format %q not normalised", r.Format)
	}
	// A glob under xapi covers only the events that have a statement.
	if c.MatchesName(`\core\event\user_created`) || !c.MatchesName(`\core\event\user_graded`) || !c.MatchesName(`\mod_page\event\course_module_viewed`) {
		t.Error("xapi glob matching")
	}
	if _, err := rule.Compile(&mih.Rule{Event: `*`, Service: "x", Format: mih.FormatXAPI, Template: `{"a": 1}`}); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("xapi rule with a template: %v", err)
	}
	if _, err := rule.Compile(&mih.Rule{Event: `*`, Service: "x", Format: "protobuf"}); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("unknown format: %v", err)
	}
	// Formats other than template are rendered in the delivery worker: they need the site.
	ce, err := rule.Compile(&mih.Rule{Event: `*`, Service: "x", Format: mih.FormatCloudEvents})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := rule.MockEvent(`\core\event\user_created`).Data()
	if !ce.Wants(data).Any() || !ce.MatchesName(`\core\event\user_created`) {
		t.Error("cloudevents rule")
	}
	tpl, _ := rule.Compile(&mih.Rule{Event: `*`, Service: "x"})
	if tpl.Wants(data).Any() {
		t.Error("a template rule without placeholders wants enrichment")
	}
}
