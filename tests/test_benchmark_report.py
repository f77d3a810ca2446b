"""The webhook benchmark's comparison of one event alone with Odoo's own path, query by query."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import webhook_batch  # noqa: E402


def test_profile_difference_groups_by_query_and_keeps_what_differs():
    profile = {
        "single": [
            ["gocardless_event.py:_gocardless_lock_due | SELECT e.id FROM gocardless_event", 5],
            ['payment_transaction.py:_post_process | SELECT "mail_message"."id"', 10],
            ['gocardless_event.py:_gocardless_process_one | SAVEPOINT "a1b2"', 5],
            ['gocardless_event.py:_gocardless_process_one | RELEASE SAVEPOINT "a1b2"', 5],
            ['payment_transaction_batch.py:_post_process_now | SAVEPOINT "c3d4"', 5],
        ],
        "own": [
            ['payment_transaction.py:_post_process | SELECT "mail_message"."id"', 10],
            ['account_move.py:_post | SAVEPOINT "e5f6"', 5],
            ['account_move.py:_post | SELECT "res_partner"."id"', 10],
        ],
    }
    rows = webhook_batch.profile_difference(profile, per_round=5)
    assert rows == [
        ("RELEASE SAVEPOINT", 1.0),
        ("SAVEPOINT", 1.0),
        ("SELECT e.id FROM gocardless_event", 1.0),
        ('SELECT "res_partner"."id"', -2.0),
    ]
