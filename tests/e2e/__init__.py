"""Browser end-to-end and accessibility tests: the real app, a real SMTP server, Chromium."""
