#!/usr/bin/env bash
# Creates .venv and installs the project (with test tools when given "dev"), installing Java 17
# from the system's packages when it is missing. Safe to run again: it only reinstalls when
# pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PYTHON="${PYTHON:-python3}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  if ! command -v apt-get >/dev/null; then
    if [ "$(uname -s)" = Darwin ]; then
      echo "setup: on macOS install them with Homebrew (docs/install.md): $*" >&2
    else
      echo "setup: apt-get not found; install $* by hand (docs/install.md)" >&2
    fi
    return 1
  fi
  # debconf's note that apt-utils is missing is noise on minimal images: keep apt's errors, drop that line.
  as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" \
    >/dev/null 2> >(grep -v "^debconf: delaying package configuration" >&2)
}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python 3.11+ is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2; exit 1
fi
if ! command -v java >/dev/null; then
  echo "setup: installing Java 17 (openjdk-17-jre-headless)"
  apt_install openjdk-17-jre-headless || { echo "setup: could not install Java 17; install it and retry" >&2; exit 1; }
fi
# Spark's ALS solves its small systems through the system's BLAS/LAPACK when present, faster than its Java
# fallback (docs/benchmarks.md, als-blas); without them every Spark start prints two dlopen errors.
if command -v ldconfig >/dev/null && ! ldconfig -p 2>/dev/null | grep -q "liblapack.so.3 "; then
  echo "setup: installing BLAS/LAPACK for Spark's ALS (libblas3, liblapack3)"
  apt_install libblas3 liblapack3 || echo "setup: could not install libblas3 liblapack3; Spark falls back to Java BLAS" >&2
fi
# The test suite runs a real InfluxDB 1.x (Debian's `influxdb` package); the replay itself does not need it.
if [[ ",$extras," == *",dev,"* ]] && ! command -v influxd >/dev/null; then
  echo "setup: installing InfluxDB for the tests (influxdb)"
  apt_install influxdb || { echo "setup: could not install the influxdb package; the replay tests need influxd" >&2; exit 1; }
fi
# The UI test opens the Dagster webserver in headless Chromium (Debian's `chromium`).
if [[ ",$extras," == *",dev,"* ]] && ! command -v chromium >/dev/null; then
  echo "setup: installing Chromium for the UI test (chromium)"
  apt_install chromium || { echo "setup: could not install the chromium package; the UI test needs it" >&2; exit 1; }
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv 2>/dev/null || { apt_install python3-venv && "$PYTHON" -m venv .venv; }
fi
# The stamp is pyproject.toml's hash, computed by Python so the script also runs where sha256sum is missing (macOS).
digest="$("$PYTHON" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest()[:16])')"
stamp=".venv/.installed-${digest}${extras:+-$extras}"
if [ ! -f "$stamp" ]; then
  # pip's notes about unused local index folders, and setuptools' advice printed while it builds the
  # editable install (Python warnings, silenced for the install only), are noise: keep the errors.
  pip_install() { PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q "$@" \
    2> >(grep -v -e "^WARNING: Location" -e "BuildBackendWarning" >&2); }
  pip_install --upgrade pip
  pip_install -e ".${extras:+[$extras]}"
  rm -f .venv/.installed-*; touch "$stamp"
fi
