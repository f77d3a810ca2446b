"""Looking a resource up for an action, and moving it from one status to the next."""

from __future__ import annotations

from ..core import not_found


class StateMixin:
    def fetch(self, rtype, doc_id, org, what="Resource"):
        """The document ``doc_id`` of ``org``; 404 when there is none."""
        doc = self.store.get(rtype, doc_id, org)
        if doc is None:
            raise not_found(what)
        return doc

    def transition(self, rtype, doc, status, origin, cause, action=None, **extra):
        """Move ``doc`` to ``status``, save it and emit its event (``action``: the status unless
        given); ``due``: its new due dates (kept when not given); the other keywords as for
        :meth:`resource_event`."""
        doc["status"] = status
        if "due" in extra:
            doc["_due"] = extra.pop("due")
        self.store.save(doc)
        return self.resource_event(rtype, doc, action or status, origin, cause, **extra)
