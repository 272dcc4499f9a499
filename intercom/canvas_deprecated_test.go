package intercom_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/intercom"
)

// TestDeprecatedCanvasNames: the former names are the same types and
// values as the Canvas-prefixed ones, so a host's code keeps compiling
// and behaving.
func TestDeprecatedCanvasNames(t *testing.T) {
	t.Parallel()
	var (
		_ *intercom.CanvasEvent   = &intercom.Event{}
		_ *intercom.CanvasContent = &intercom.Content{}
		_ *intercom.CanvasAction  = &intercom.Action{}
	)
	if diff := cmp.Diff(intercom.CanvasCompleted(), intercom.Completed()); diff != "" {
		t.Errorf("Completed() (-CanvasCompleted() +Completed()):\n%s", diff)
	}
	if diff := cmp.Diff(intercom.SubmitAction(), intercom.Submit()); diff != "" {
		t.Errorf("Submit() (-SubmitAction() +Submit()):\n%s", diff)
	}
	for old, now := range map[string]string{
		intercom.EventCompleted: intercom.CanvasEventCompleted,
		intercom.ActionSubmit:   intercom.CanvasActionSubmit,
		intercom.ActionURL:      intercom.CanvasActionURL,
		intercom.ActionSheet:    intercom.CanvasActionSheet,
	} {
		if old != now {
			t.Errorf("former constant %q != %q", old, now)
		}
	}
}
