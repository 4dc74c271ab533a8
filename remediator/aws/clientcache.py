"""What every account's client of one service shares: botocore's parsed service model and client class.

botocore builds, for each client, a `ServiceModel` from the (already parsed) JSON model, a client class
with one method per operation (IAM: ~180 closures and docstrings, ~5 ms), and each client resolves its
model's shapes, operation models and error shapes again (~7 ms at an account's first modeled error). None
of it depends on the account: it is the same for every client of a service made from the process's
shared data loader (`session.botocore_session()`). Here it is made once per process and service.

What stays per client, as botocore makes it: the credentials and request signer, the event handlers
(rate limiter, retries, call observers, the check-mode firewall, tests' hooks), the endpoint and its
connection pool, the config. The shared objects hold model data only.

The cache applies only to clients made from the shared loader; every other botocore session of the
process (a test's boto3 session, the emulator's) is served by botocore's own code as before.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()
_LOADER: Any = None  # the process's shared data loader: only its clients use the cache
_MODELS: dict[tuple[str, str | None], Any] = {}
_CLASSES: dict[tuple[Any, ...], type] = {}
_ALIASES: dict[str, str] = {}  # event name -> aliased event name (botocore's EVENT_ALIASES), filled as met


def install(loader: Any) -> None:
    """Serve the clients made from `loader` from the caches (once per process)."""
    global _LOADER
    import botocore.client

    with _LOCK:
        _LOADER = loader
        creator = _SharingClientCreator()
        if botocore.client.ClientCreator is not creator:
            botocore.client.ClientCreator = creator


_CREATOR: type | None = None


def _SharingClientCreator() -> type:  # noqa: N802 - a class, made on first use (botocore imported lazily)
    global _CREATOR
    if _CREATOR is not None:
        return _CREATOR
    import botocore.client
    import botocore.hooks

    base = botocore.client.ClientCreator

    class SharingClientCreator(base):  # type: ignore[misc, valid-type]
        def _shared(self) -> bool:
            return _LOADER is not None and self._loader is _LOADER

        def _load_service_model(self, service_name: str, api_version: str | None = None) -> Any:
            if not self._shared():
                return super()._load_service_model(service_name, api_version)
            key = (service_name, api_version)
            model = _MODELS.get(key)
            if model is None:
                model = super()._load_service_model(service_name, api_version)
                with _LOCK:
                    model = _MODELS.setdefault(key, model)
            return model

        def _create_client_class(self, service_name: str, service_model: Any) -> type:
            handlers = self._class_handlers(service_model)
            if handlers is None:
                return super()._create_client_class(service_name, service_model)
            # The class is what the model and the `creating-client-class` handlers make of it.
            key = (service_name, id(service_model), handlers)  # a model in _MODELS: its id is never reused
            try:
                cls = _CLASSES.get(key)
            except TypeError:  # an unhashable handler: make the class as botocore does
                return super()._create_client_class(service_name, service_model)
            if cls is None:
                cls = super()._create_client_class(service_name, service_model)
                with _LOCK:
                    cls = _CLASSES.setdefault(key, cls)
            return cls

        def _class_handlers(self, service_model: Any) -> tuple[Any, ...] | None:
            """The handlers that shape the client class, or None (not cacheable: not the shared loader's
            model, or an emitter whose handlers cannot be read)."""
            if not self._shared() or not any(model is service_model for model in list(_MODELS.values())):
                return None
            aliaser = self._event_emitter
            emitter = getattr(aliaser, "_emitter", None)
            trie = getattr(emitter, "_handlers", None)
            if not isinstance(aliaser, botocore.hooks.EventAliaser) or trie is None:
                return None
            name = aliaser._alias_event_name(f"creating-client-class.{service_model.service_id.hyphenize()}")
            return tuple(trie.prefix_search(name))

        def _get_client_args(self, *args: Any, **kwargs: Any) -> Any:
            client_args = super()._get_client_args(*args, **kwargs)
            aliaser = client_args.get("event_emitter")
            if (
                self._shared()
                and isinstance(aliaser, botocore.hooks.EventAliaser)
                and aliaser._event_aliases == botocore.hooks.EVENT_ALIASES
            ):
                # Which name an event is registered and emitted under depends on the aliases only: one
                # table for every client (botocore makes it again for each client, ~60 names).
                aliaser._alias_name_cache = _ALIASES
            return client_args

    _CREATOR = SharingClientCreator
    return _CREATOR


def shared_handlers(emitter: Any) -> Any:
    """A read-only copy of `emitter` (the template session's built-in handlers) that every account's
    session holds instead of a copy of its own (~3 ms each): a session's handlers are only read (each
    client copies them, and registers its own handlers on its copy). Registering on it raises, so no
    handler can be shared between accounts by mistake; its copies (the clients') are ordinary emitters."""
    import copy

    import botocore.hooks

    class SharedHandlers(botocore.hooks.HierarchicalEmitter):  # type: ignore[misc]
        def _verify_and_register(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the handlers every session shares are read-only: register on a client")

        def unregister(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the handlers every session shares are read-only: unregister on a client")

        def __copy__(self) -> Any:
            new = botocore.hooks.HierarchicalEmitter.__copy__(self)
            new.__class__ = botocore.hooks.HierarchicalEmitter
            return new

    shared = copy.copy(emitter)
    shared.__class__ = SharedHandlers
    return shared
