#!/usr/bin/env bash
# Test suite under ThreadSanitizer (.build-tsan): tools/reliability/tsan.sh [swift test args]
exec "$(dirname "$0")/sanitize.sh" thread "$@"
