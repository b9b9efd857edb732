from __future__ import annotations

import pytest

from services.common.auth import KeyConfigError, KeyRing

pytestmark = pytest.mark.unit

K1, K2, K3 = "a" * 20, "b" * 20, "c" * 20


def test_roles_are_ordered():
    ring = KeyRing.parse(f"{K1}:admin, {K2}:member,{K3}:viewer")
    admin, member, viewer = (ring.authenticate(k) for k in (K1, K2, K3))
    assert admin.can("admin") and admin.can("member") and admin.can("viewer")
    assert member.can("member") and not member.can("admin")
    assert viewer.can("viewer") and not viewer.can("member")
    assert ring.authenticate("x" * 20) is None and ring.authenticate(None) is None


def test_key_id_is_stable_and_not_the_key():
    ring = KeyRing.parse(f"{K1}:admin")
    p = ring.authenticate(K1)
    assert p.key_id == ring.authenticate(K1).key_id and K1 not in p.key_id and len(p.key_id) == 12


@pytest.mark.parametrize(
    ("spec", "message"),
    [(f"{K1}", "must look like <key>:<role>"), (f"{K1}:root", "unknown role 'root'"), ("short:admin", "at least 16")],
)
def test_bad_key_specs_say_what_is_wrong(spec, message):
    with pytest.raises(KeyConfigError, match=message):
        KeyRing.parse(spec)

