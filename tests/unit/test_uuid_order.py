"""in_uuid_order sorts as PostgreSQL sorts uuid (byte by byte) and as UUID's own `<` does."""

from __future__ import annotations

import random
import uuid

from gayari_shared.postgres import in_uuid_order


def test_in_uuid_order_is_the_byte_order_and_uuids_own_order() -> None:
    rng = random.Random(5)
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(2000)]
    ids += [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=2**64)]
    ordered = in_uuid_order(ids)
    assert ordered == sorted(ids, key=lambda u: u.bytes)  # PostgreSQL's: memcmp of 16 bytes
    assert ordered == sorted(ids)
    assert ordered != ids  # it did sort
