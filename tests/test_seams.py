"""The fence around aiortc's, aioice's and pylibsrtp's private parts (stream_server/media/seams.py).

Each seam is listed once; breaking any one of them must stop the server from starting, with
the seam's name in the message, rather than let it fall back silently.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version

import pytest

from stream_server.media import seams


def test_every_seam_is_present_in_the_pinned_versions():
    assert seams.missing_seams() == []
    seams.check_aiortc_seams()


@pytest.mark.parametrize("seam", seams.SEAMS, ids=lambda s: s.name)
def test_the_check_fails_naming_the_seam_when_it_disappears(seam, monkeypatch):
    module = importlib.import_module(seam.module)
    if seam.how == "module":
        monkeypatch.delattr(module, seam.attribute)
    elif seam.how == "attribute":
        owner = getattr(module, seam.owner)
        # The attribute may be inherited or defined on the class itself: hide it either way.
        stand_in = type(
            seam.owner, (), {k: v for k, v in vars(owner).items() if k != seam.attribute}
        )
        monkeypatch.setattr(module, seam.owner, stand_in)
    else:  # used inside the owner's methods: an owner without those methods
        monkeypatch.setattr(module, seam.owner, type(seam.owner, (), {}))
    with pytest.raises(RuntimeError, match=seam.name):
        seams.check_aiortc_seams()


def test_the_libraries_with_private_seams_are_pinned():
    """An upgrade of any of them is a deliberate change, checked by the tests above."""
    text = (importlib.resources.files("stream_server").parent / "pyproject.toml").read_text()
    for name in ("aiortc", "aioice", "pylibsrtp"):
        assert f'"{name}>=' in text and ",<" in text.split(f'"{name}>=')[1].split('"')[0], name
        major_minor = ".".join(version(name).split(".")[:2])
        assert f'"{name}>={major_minor}' in text, (name, version(name))
