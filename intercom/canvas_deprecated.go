package intercom

// Names of the Canvas Kit protocol from before they carried the Canvas
// prefix (intercom.Event, Content and Action read as if they belonged to
// the REST client). They keep hosts' code compiling.

// Event is the former name of CanvasEvent.
//
// Deprecated: use CanvasEvent.
type Event = CanvasEvent

// EventCompleted is the former name of CanvasEventCompleted.
//
// Deprecated: use CanvasEventCompleted.
const EventCompleted = CanvasEventCompleted

// Completed returns CanvasCompleted().
//
// Deprecated: use CanvasCompleted.
func Completed() *CanvasEvent { return CanvasCompleted() }

// Content is the former name of CanvasContent.
//
// Deprecated: use CanvasContent.
type Content = CanvasContent

// Action is the former name of CanvasAction.
//
// Deprecated: use CanvasAction.
type Action = CanvasAction

// Former names of the canvas action types.
const (
	// Deprecated: use CanvasActionSubmit.
	ActionSubmit = CanvasActionSubmit
	// Deprecated: use CanvasActionURL.
	ActionURL = CanvasActionURL
	// Deprecated: use CanvasActionSheet.
	ActionSheet = CanvasActionSheet
)

// Submit returns SubmitAction().
//
// Deprecated: use SubmitAction.
func Submit() *CanvasAction { return SubmitAction() }
