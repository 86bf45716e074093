"""The fake Ozon's fulfilment methods (see ``fake``): a mixin of FakeOzon."""
from __future__ import annotations


class FakeOzonFulfilment:
    """Adds its routes in ``handlers`` (calling super()) and its limits in ``limits``."""
