package rewards

import (
	"fmt"
	"html"
	"regexp"
	"strings"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
)

func errorCanvas(title, msg string, back bool) *intercom.CanvasResponse {
	comps := []intercom.Component{
		&intercom.TextComponent{Text: title, Style: "header"},
		&intercom.TextComponent{Text: msg, Style: "error"},
	}
	if back {
		comps = append(comps, &intercom.ButtonComponent{ID: rewardBack, Label: "Back", Action: intercom.SubmitAction(), Style: "secondary"})
	}
	return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: comps}}}
}

func rewardTitle(r *distribution.Reward) string {
	if r.Label == "" {
		return r.Name
	}
	return r.Name + " — " + r.Label
}

// already answers a click on a reward that was sent (or is being sent).
func (a *App) already(r *distribution.Reward, c *customer.Customer, dl distribution.Delivery) *intercom.CanvasResponse {
	switch dl.State {
	case distribution.DeliverySent:
		return doneCanvas(r, c, dl.Code, "Already sent in this conversation; no new code was published.")
	case distribution.DeliverySending:
		if r.Delivery == distribution.RewardByCard {
			resp := doneCanvas(r, c, dl.Code, "A card with this code was already added to this conversation.")
			resp.Canvas.Content.Components = append(resp.Canvas.Content.Components,
				&intercom.ButtonComponent{ID: rewardResend + r.ID, Label: "Insert the card again", Action: intercom.SubmitAction(), Style: "secondary"})
			resp.Event = nil
			return resp
		}
		return errorCanvas("Being sent", fmt.Sprintf("%s with code %s is being sent to %s.", r.Name, dl.Code, displayName(c)), false)
	case distribution.DeliveryUnknown:
		return errorCanvas("Reply may have been sent", fmt.Sprintf("Code %s may have reached %s already (%s). Check the conversation.", dl.Code, displayName(c), dl.Reason), false)
	default:
		return errorCanvas("Not sent", fmt.Sprintf("%s was not sent (%s: %s).", r.Name, dl.State, dl.Reason), true)
	}
}

// cardResponse asks Intercom to insert the Messenger card of dl.
func cardResponse(r *distribution.Reward, c *customer.Customer, dl distribution.Delivery) *intercom.CanvasResponse {
	resp := doneCanvas(r, c, dl.Code, "Added to the conversation as a card.")
	resp.CardCreationOptions = map[string]any{"delivery_id": dl.ID}
	return resp
}

func doneCanvas(r *distribution.Reward, c *customer.Customer, code, how string) *intercom.CanvasResponse {
	return &intercom.CanvasResponse{
		Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{
			&intercom.TextComponent{Text: r.Name + " for " + displayName(c), Style: "header"},
			&intercom.TextComponent{Text: "Code: **" + code + "**"},
			&intercom.TextComponent{Text: how, Style: "muted"},
			&intercom.DividerComponent{},
			&intercom.ButtonComponent{ID: rewardBack, Label: "Back to rewards", Action: intercom.SubmitAction(), Style: "secondary"},
		}}},
		Event: intercom.CanvasCompleted(),
	}
}

var (
	htmlBreak = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</li>`)
	htmlBold  = regexp.MustCompile(`(?i)</?(b|strong)>`)
	htmlTag   = regexp.MustCompile(`<[^>]*>`)
)

// htmlToText turns a rendered HTML message (values escaped) into a card's
// text: line breaks for <br> and block ends, **bold** for <b> and
// <strong>, other tags dropped, entities decoded.
func htmlToText(s string) string {
	s = htmlBreak.ReplaceAllString(s, "\n")
	s = htmlBold.ReplaceAllString(s, "**")
	s = htmlTag.ReplaceAllString(s, "")
	return strings.TrimSpace(html.UnescapeString(s))
}
