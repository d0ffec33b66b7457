"""`python -m emulators.mailchimp`: the same command as `python -m emulators.mailchimp.server` (without the
runpy warning that running a module the package itself imports gives)."""

from .server import main

main()
