"""Browser journeys: Playwright driving Debian's chromium against gunicorn over TLS."""
