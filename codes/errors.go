package codes

import (
	"errors"

	"github.com/codedrop/codedrop/internal/errs"
)

// Errors that callers branch on with errors.Is. ErrNotFound, ErrConflict
// and ErrInvalid are the same values in every codedrop package
// (distribution.ErrNotFound is codes.ErrNotFound).
var (
	// ErrNoCodesLeft reports that a campaign cannot publish another code:
	// its fixed pool is exhausted, or the code space of an auto-update
	// campaign is used up (see [Generator]). A distribution that meets it
	// stops sending and records "no codes left" for the remaining
	// recipients.
	ErrNoCodesLeft = errors.New("codes: no codes left")

	// ErrNotFound: the campaign (or publication) does not exist.
	ErrNotFound = errs.NotFound
	// ErrConflict: a campaign name or an imported code is already in use,
	// or an idempotency key was used for another customer or campaign.
	ErrConflict = errs.Conflict
	// ErrInvalid: a campaign or request fails validation; the wrapping
	// error names the field ("name", "code.pattern", "codes[3]", "key").
	ErrInvalid = errs.Invalid
)
