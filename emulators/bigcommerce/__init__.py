"""A stateful emulator of the BigCommerce REST Management API (v3) subset commerce-sync reads: carts,
customers, newsletter subscribers and catalog products. See `emulator.py` for the Python API."""

from .app import BigCommerceState, FaultSettings
from .emulator import BigCommerceEmulator

__all__ = ["BigCommerceEmulator", "BigCommerceState", "FaultSettings"]
