#!/bin/bash
# Runs once, on the first start of the InfluxDB 2.x container (after its set-up created the org, the
# bucket with 30-day retention and the admin token): map database/retention policy to the bucket so
# InfluxQL clients (the pipeline's v1 path is not used on 2.x, but Grafana's InfluxQL queries are) find it.
set -euo pipefail
bucket_id=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --db "${DOCKER_INFLUXDB_INIT_BUCKET}" --rp autogen --bucket-id "${bucket_id}" --default
