"""schemas.runtime: Ray settings refused before Ray starts (a local Ray itself is the session fixture's)."""
from __future__ import annotations

import socket

import pytest

from schemas.runtime import RayConfig, require_reachable
from schemas.typed_config import ConfigError


@pytest.mark.parametrize("settings,message", [({"num_cpus": 0}, "ray.num_cpus: 0"),
                                              ({"blocks_per_cpu": 0}, "ray.blocks_per_cpu: 0")])
def test_settings_that_would_hang_a_build_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        RayConfig(**settings)


def test_an_address_where_no_head_answers_is_refused_at_once():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        require_reachable(f"127.0.0.1:{port}")  # something answers: Ray's own handshake decides
        require_reachable(f"ray://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=f"ray.address 127.0.0.1:{port}: no Ray head answers there"):
        require_reachable(f"127.0.0.1:{port}")
    require_reachable("auto")  # Ray finds the local cluster itself
