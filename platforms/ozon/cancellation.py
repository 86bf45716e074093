"""Ozon cancellations: the live reason list and cancelling an FBS posting.

(Filled in by the cancellation work: ``cancel_reasons`` and ``cancel``.)
"""
from __future__ import annotations

from ..base import StatusUpdate
from .api import OzonApi, OzonError


class OzonCancellation(OzonApi):

    def cancel(self, update: StatusUpdate) -> str:
        """Cancel the FBS posting ``update.external_id`` for ``update.reason_code``."""
        raise OzonError("Ozon: cancelling a posting is not built yet")
