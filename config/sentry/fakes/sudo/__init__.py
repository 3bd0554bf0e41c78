"""Stand-in for the `sudo` package Sentry vendors."""
