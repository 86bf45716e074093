"""Ozon stock and prices per warehouse, and reading Ozon's stock back.

(Filled in by the stock-and-prices work: the ``StockClient`` methods.)
"""
from __future__ import annotations

from .api import OzonApi


class OzonStock(OzonApi):
    pass
