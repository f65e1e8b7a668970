"""What the tests share and are not tests themselves: factories, real servers on loopback
(SMTP, a webhook receiver), the staff sign-in form, worker processes, parsers for what the
app produces. Test modules import from here and never from one another; shared fixtures
live in tests/conftest.py."""
