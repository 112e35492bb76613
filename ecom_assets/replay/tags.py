"""Run tags the replay puts on its runs (read by the sensor, by ``replay_progress`` and by the run queue)."""

REPLAY_TAG = "ecom/replay"
ATTEMPT_TAG = "ecom/attempt"
REQUESTED_AT_TAG = "ecom/requested_at"
DUE_AT_TAG = "ecom/due_at"  # when the hour was due on the replay's cadence (epoch seconds)
# Every replayed hour runs in this lane; dagster.yaml limits the lane to one run at a time, so an hour
# requested while the previous one still runs waits in the queue behind it.
LANE_TAG = "ecom/lane"
HOURS_LANE = "november-replay-hours"
# Set on an hour requested while the previous hour (the tag's value) was still in flight: the hour only
# proceeds if that previous hour's latest run in the replay succeeded.
AFTER_TAG = "ecom/after_hour"
