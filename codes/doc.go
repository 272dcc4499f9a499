// Package codes is codedrop's source of unique coupon codes: campaigns
// ([Campaign]: a pool of imported or pre-generated codes, or codes
// generated on demand from a [CodeConfig]), the publication of one code to
// one customer ([Source].Publish, idempotent by key), and the one code
// generator both built-in sources use ([Generator]).
//
// It imports no other public codedrop package: package distribution
// publishes through a Source, and the stores implement one.
//
//   - [Memory] (from [NewMemory]) is the in-memory Source and [Registry];
//     store.NewMemory() holds one, so the in-memory store provides codes.
//   - store/postgres.Codes is the durable one (campaigns, codes and
//     publications are rows); store/postgres.Store provides it.
//   - A host plugs in its own coupon system by implementing [Source], and
//     [Registry] if it holds campaigns that distribution.Manager should
//     create and look up.
//
// codes/codestest is the conformance suite every implementation runs:
//
//	func TestMySource(t *testing.T) {
//		codestest.Run(t, func(t *testing.T) codestest.Source { return newMySource(t) })
//	}
//
// # Codes
//
// A code is CodeConfig.Prefix + a random part + CodeConfig.Postfix; the
// random part is Length characters of Charset, or Pattern with each #
// replaced by one. Codes are unique across all campaigns of a source. A
// pool campaign publishes its imported codes in order, then its Count
// pre-generated ones, then fails with [ErrNoCodesLeft]; an auto-update
// campaign publishes its imported codes first and then generates a new
// code for each publication until its code space is used up. A search for
// a new code tries up to 48 random codes and then, in a space of at most
// 65,536 codes, every code once, so a small space is used to its last
// code by every source.
//
// # Errors
//
// Errors are testable with errors.Is: [ErrNoCodesLeft] when a campaign has
// no code left, [ErrNotFound] for an unknown campaign, [ErrConflict] for a
// name or imported code already in use or a key reused for another
// customer or campaign, and [ErrInvalid] for a campaign or request that
// fails validation (the message starts with the field: "name: required",
// "codes[2]: ...", "code.pattern: ..."). ErrNotFound, ErrConflict and
// ErrInvalid are the values of every codedrop package:
//
//	pub, err := src.Publish(ctx, codes.PublishRequest{Key: key, CampaignID: "Welcome", CustomerID: cust})
//	switch {
//	case errors.Is(err, codes.ErrNoCodesLeft):
//		// stop sending: the campaign is used up
//	case errors.Is(err, codes.ErrNotFound):
//		// no campaign named "Welcome"
//	case errors.Is(err, codes.ErrConflict):
//		// key was used for another customer or campaign
//	case err != nil:
//		return err
//	}
package codes
