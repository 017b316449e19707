// Package reconcile is mailtwin's sync engine.
//
// It owns the sync semantics: the agreed State of a pair of accounts, the
// Listing of what each account holds now, the Policy that says what flows
// where, and the Plan that turns the three into actions. The planner
// (Build and Next) is a pure function: no network, no clock, no
// randomness, no Git, no context. The same inputs always give a
// byte-identical Plan.String(). LineUp, pure too, is the planner's
// folder pairing alone (names, maps, special-use roles, rules and
// Policy.ExcludeSpecialUse), for showing before any message is read.
//
// The shell (Run, Execute) carries a plan out through the two small
// interfaces this package declares, Mailstore and StateRepo. It makes no
// sync decision of its own: it does exactly what the plan says and reports
// Outcomes, from which Next computes the state to commit.
//
// This package imports nothing of mailtwin's. imapstore satisfies
// Mailstore, gitstate (through a thin adapter in main) satisfies StateRepo,
// and hclconfig uses the policy types declared here.
package reconcile
