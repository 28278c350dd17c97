#!/usr/bin/env bash
# Test suite under AddressSanitizer (.build-asan): tools/reliability/asan.sh [swift test args]
exec "$(dirname "$0")/sanitize.sh" address "$@"
