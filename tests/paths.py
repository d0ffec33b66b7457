"""Where the tests find the project's own files, whatever folder a test sits in."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
EVENTS = PROJECT / "events"
# The shared research folder beside the project (absent on a lone clone; only the spec identity check needs it).
SHARED = PROJECT.parent / "shared"
