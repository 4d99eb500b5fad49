"""``python -m sync_platform.service PATH``: write the service's OpenAPI document to PATH (stdout
without one). ``docs/openapi.json`` is written this way, and a test fails when it drifts."""

import sys

from sync_platform.service.openapi import main

main(sys.argv[1:])
