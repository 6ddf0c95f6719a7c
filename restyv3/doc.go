// Package restyv3 applies restyretry's smart retries to a resty v3
// (resty.dev/v3) client. Every decision is made by the resty-free core
// (github.com/restyretry/restyretry/core), the same one the resty v2
// adapter (github.com/restyretry/restyretry) drives, so a Policy behaves
// the same on both: the same presets, rules, waits, budget, Pace, events,
// test mode and give-up errors, checked by one behaviour table
// (github.com/restyretry/restyretry/retrytest) that both run.
//
//	c := restyv3.Apply(resty.New())
//	res, err := c.R().Get("https://api.example.com/items")
//	if errors.Is(err, restyv3.ErrGaveUp) { ... }
//
// Apply works through resty v3's own retry loop: resty's default retry
// conditions are turned off and every method is allowed, so that the policy
// alone decides; one retry condition reports each attempt to the core, and
// the delay strategy returns its wait or, as its error, the give-up, which
// resty then returns (wrapped around the attempt's own error, so
// errors.Is(err, ErrGaveUp) and errors.Is(err, syscall.ECONNREFUSED) both
// hold).
//
// What differs from the v2 adapter, because resty v3 differs:
//
//   - Retry-After: resty v3 uses a 429's or 503's Retry-After as the wait,
//     as it is, without asking the delay strategy, which would bypass the
//     policy's floor, its cap and ErrWaitTooLong. A response middleware
//     moves that header aside while resty's loop runs: resty's own retry
//     conditions and retry hooks do not see it, the policy's conditions
//     (Policy.With) do, and it is back on the response Execute returns.
//   - Request bodies: resty v3 sends an io.Reader body as it is and, on a
//     retry, can only seek it to its start. A *bytes.Buffer, and a
//     *bytes.Reader or *strings.Reader not yet read from, are retried;
//     any other reader, and every multipart request, gives up with
//     ErrBodyNotReplayable instead of being sent truncated. (resty v2
//     buffers reader bodies, and the v2 adapter resends them.) Strings,
//     byte slices, encoded values and forms are rebuilt on every attempt.
//   - Hedging: resty's SetHedging turns retries off, and hedging and
//     retries do not stack. A client that hedges is not retried; the
//     client reports ErrHedging as a RuleDegraded event.
//   - The adapter keeps no pre-send body guard: resty v3 has no hook between
//     building the request and sending it.
//
// Apply a client before making requests with it: resty copies the retry
// settings into a request when R() creates it.
package restyv3
