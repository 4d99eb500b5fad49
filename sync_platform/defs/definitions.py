"""The Dagster code location. Assets, sensors and schedules are added by the platform issue."""

import dagster as dg

defs = dg.Definitions()
