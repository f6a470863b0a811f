"""The Hugging Face hub asked for a cached source without waiting on the network when its host does not resolve
(:func:`hub_cache_only_when_unreachable`), for :mod:`medtrain.models.pretrained`'s ``timm:NAME`` sources."""
from __future__ import annotations

import contextlib
import socket


@contextlib.contextmanager
def hub_cache_only_when_unreachable():
    """Let the Hugging Face hub serve its cache without asking the network when its host does not resolve.

    Offline, the hub client retries every candidate file five times with back-off (~55 s, about twenty
    log lines) before timm's error arrives. One DNS lookup tells an offline machine in milliseconds, and the
    client's own offline mode (``HF_HUB_OFFLINE``, read on each request) then reads the cache or fails at
    once. Online, nothing changes."""
    import huggingface_hub.constants as hub

    host = hub.ENDPOINT.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    try:
        socket.getaddrinfo(host, 443)
        reachable = True
    except OSError:
        reachable = False
    before = hub.HF_HUB_OFFLINE
    hub.HF_HUB_OFFLINE = before or not reachable
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = before
