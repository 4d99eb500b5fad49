"""Shared fixtures: every test gets real servers (PostgreSQL, the Stripe emulator), never mocks."""

pytest_plugins = [
    "sync_platform_tests.plugins.postgres",
    "sync_platform_tests.plugins.pipelines",
    "sync_platform_tests.plugins.stripe_emulator",
    "sync_platform_tests.plugins.sheets_server",
]
