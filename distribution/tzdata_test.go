package distribution_test

// The tests that use time zones (quiet hours in a customer's zone, limits
// per calendar period) must run everywhere, also where the system has no
// zoneinfo: the test binary embeds it.
import _ "time/tzdata"
