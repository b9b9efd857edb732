"""The C-packed asyncio connection sends exactly the bytes redis-py's own packer sends."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import DataError

from services.common.redisconn import PackedConnection, from_url

pytestmark = pytest.mark.unit

ARG = st.one_of(st.text(), st.binary(), st.integers(-(2**63), 2**63 - 1),
                st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip
COMMAND = st.sampled_from(["XACK", "SET", "SADD", "EVALSHA", "CONFIG GET", b"HSET", b"OBJECT ENCODING"])


def _wire(conn: aioredis.Connection, *args) -> bytes:
    return b"".join(bytes(part) for part in conn.pack_command(*args))


@given(COMMAND, st.lists(ARG, max_size=20))
def test_the_packed_bytes_are_redis_pys(command, args):
    assert _wire(PackedConnection(), command, *args) == _wire(aioredis.Connection(), command, *args)


def test_an_xack_of_many_ids_packs_alike():
    ids = [f"{1_765_000_000_000 + i}-{i % 3}" for i in range(10_000)]
    assert _wire(PackedConnection(), "XACK", "invarium:{p0}:events", "scorer", *ids) == _wire(
        aioredis.Connection(), "XACK", "invarium:{p0}:events", "scorer", *ids
    )


@pytest.mark.parametrize("bad", [None, True, object()])
def test_what_redis_py_refuses_is_refused_with_its_error(bad):
    with pytest.raises(DataError):
        PackedConnection().pack_command("SET", "k", bad)


def test_from_url_uses_it_except_where_the_url_names_another_connection_class():
    assert from_url("redis://127.0.0.1:6399/0").connection_pool.connection_class is PackedConnection
    assert from_url("unix:///tmp/redis.sock").connection_pool.connection_class is not PackedConnection
