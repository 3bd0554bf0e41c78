"""Stand-in for the `sentry` package (tests only)."""
