"""A stateful emulator of the Mailchimp Marketing API v3 e-commerce endpoints, for tests and local runs.

See `emulator.py` for the Python API and `server.py` for the admin routes and the command line.
"""

from .emulator import MailchimpEmulator
from .faults import FaultSettings
from .server import UnknownAccount
from .state import EmulatorState, OrderStatusEvent, RecordedRequest, Store, subscriber_hash

__all__ = [
    "EmulatorState",
    "FaultSettings",
    "MailchimpEmulator",
    "OrderStatusEvent",
    "RecordedRequest",
    "Store",
    "UnknownAccount",
    "subscriber_hash",
]
