"""Ozon FBS fulfilment: telling Ozon a posting is assembled, and its package labels.

(Filled in by the assembly-and-labels work: ``ship`` and ``package_labels``.)
"""
from __future__ import annotations

from ..base import StatusUpdate
from .api import OzonApi, OzonError


class OzonFulfilment(OzonApi):

    def ship(self, update: StatusUpdate) -> str:
        """Tell Ozon the posting ``update.external_id`` is assembled (one package)."""
        raise OzonError("Ozon: sending 'assembled' is not built yet")
