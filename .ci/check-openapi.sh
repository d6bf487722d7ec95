#!/usr/bin/env bash
# Lints the committed openapi.yaml with Redocly (rules in redocly.yaml); offline: no telemetry, no update check.
set -euo pipefail
cd "$(dirname "$0")/.."
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
npx --no-install redocly lint openapi.yaml --config redocly.yaml
