"""Run tags the replay puts on its runs (read by the sensor and by ``replay_progress``)."""

REPLAY_TAG = "ecom/replay"
ATTEMPT_TAG = "ecom/attempt"
REQUESTED_AT_TAG = "ecom/requested_at"
DUE_AT_TAG = "ecom/due_at"  # when the hour was due on the replay's cadence (epoch seconds)
