package distribution

import (
	"fmt"
	"time"
)

// FrequencyCap allows at most Max messages to one customer per Window
// (rolling), across all distributions, through one channel or through all.
// It is checked at send time; a capped delivery is skipped with
// ReasonFrequencyCapped. Deliveries of a Transactional distribution are
// neither capped nor counted.
type FrequencyCap struct {
	// Max is how many messages the window allows (at least 1).
	Max int `json:"max"`
	// Window is the rolling span counted back from the send, such as
	// 24*time.Hour (at least a second).
	Window time.Duration `json:"window"`
	// Channel limits the cap to one channel's messages (such as
	// IntercomEmail); empty counts every channel's.
	Channel string `json:"channel,omitempty"`
}

// ReasonFrequencyCapped is the reason of a delivery skipped by a frequency
// cap; its ReasonDetail is the cap reached ("2 per 24h0m0s", see
// FrequencyCap.String).
const ReasonFrequencyCapped = "frequency capped"

// String describes the cap as skip details show it: "2 per 24h0m0s", with
// " on " and the channel for a per-channel cap.
func (c FrequencyCap) String() string {
	s := fmt.Sprintf("%d per %v", c.Max, c.Window)
	if c.Channel != "" {
		s += " on " + c.Channel
	}
	return s
}

// validateCaps returns the invalid field of caps and why, or "".
func validateCaps(caps []FrequencyCap, channels map[string]Channel) (field, msg string) {
	for i, c := range caps {
		f := fmt.Sprintf("FrequencyCaps[%d]", i)
		switch {
		case c.Max < 1:
			return f + ".Max", fmt.Sprintf("%d; at least 1", c.Max)
		case c.Window < time.Second:
			return f + ".Window", fmt.Sprintf("%v; at least a second", c.Window)
		}
		if c.Channel != "" {
			if _, ok := channels[c.Channel]; !ok {
				return f + ".Channel", fmt.Sprintf("%q is not a registered channel", c.Channel)
			}
		}
	}
	return "", ""
}

// capsFor returns the caps that apply to a message through channel.
func capsFor(caps []FrequencyCap, channel string) []FrequencyCap {
	var out []FrequencyCap
	for _, c := range caps {
		if c.Channel == "" || c.Channel == channel {
			out = append(out, c)
		}
	}
	return out
}
