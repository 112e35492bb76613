"""``ecom serve``: the shop's HTTP API over the recommendations, with the reason for each one."""
