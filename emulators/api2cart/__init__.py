"""A stateful emulator of the API2Cart API (v1.1) subset commerce-sync uses: stores of several cart types, their
products, customers, orders, shipments and baskets, paged lists, and webhooks with signed deliveries. See
`emulator.py` for the Python API and `app.py` for the methods."""

from .app import Api2CartState
from .emulator import Api2CartEmulator, sign_delivery

__all__ = ["Api2CartEmulator", "Api2CartState", "sign_delivery"]
