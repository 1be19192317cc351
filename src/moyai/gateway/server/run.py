"""Building and serving one data centre's gateway (``moyai gateway serve --dc a|b``).

The database is the one of ``moyai.settings`` (``MOYAI_DB``, ``MOYAI_SQLITE_PATH``,
``MOYAI_PG_NAME`` …): each data centre runs with its own. On PostgreSQL the hot path (nonce,
符号, log) runs on an ``AsyncConnectionPool`` connected as the same role as Django (the
application role); the registry read runs the residents' selectors in a pool of worker threads.
On SQLite every storage call runs the synchronous objects in one worker thread. ``/soap`` is
mounted when the SOAP adapter exists (:mod:`.mounts`), over the synchronous service on the same
database and log.

uvicorn serves it over TLS with ``ssl_cert_reqs=CERT_REQUIRED``: a client without a
certificate of the test CA cannot even connect. Keep-alive is uvicorn's (5 s idle by default;
``--keep-alive``), so one handshake serves many messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import os
import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from django.conf import settings

from ..codestore import DbCodeStore
from ..domain.codes import CodeService
from ..domain.keystore import FileKeyStore
from ..domain.signing import default_signer
from ..nonces import NonceCache
from ..registry import ResidentsReadModel
from ..service import DEFAULT_WINDOW
from ..store import LogStore
from .app import GatewayApp, MountedAdapter
from .exchange import Forwarder, GatewayService
from .mounts import soap_mount
from .mtls import http_protocol
from .pki import Pki, gateway_party
from .ports import CodePort, LogPort, NoncePort, RegistryPort, ThreadPorts, ThreadRegistry
from .worker import CONFIG_ENV

__all__ = ["GatewayConfig", "build_app", "serve", "uses_postgresql"]

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class GatewayConfig:
    dc: str
    pki_dir: str
    host: str = "127.0.0.1"
    port: int = 8441
    #: other data centres: dc → base URL (``https://127.0.0.1:8442``)
    peers: Mapping[str, str] | None = None
    batch_size: int = 256
    pool_size: int = 16
    #: connections of each hosted 団体's registry pool (opened on its first read)
    registry_pool_size: int = 8
    #: the most exchanges of one 団体 whose nonce, 符号 lookup and registry read share one statement
    #: (``PgRegistry.read_batch``; 1: one statement per exchange), and the most 符号 issuances in one
    #: statement (``PgCodes``' issue_batch)
    read_batch: int = 64
    registry_threads: int = 8
    keep_alive: int = 5
    #: server processes on the one port (uvicorn workers); each has its own pools and log writer,
    #: and the log's advisory lock orders their group commits on the one chain
    workers: int = 1
    #: uvicorn's HTTP parser ("auto": httptools if installed, else h11) and event loop ("auto": uvloop if installed)
    http: str = "auto"
    loop: str = "auto"


def uses_postgresql() -> bool:
    return str(settings.DATABASES["default"]["ENGINE"]).endswith("postgresql")


def build_app(config: GatewayConfig) -> GatewayApp:
    pki = Pki(config.pki_dir)
    party = pki.party(gateway_party(config.dc))
    peer_keys = pki.peer_keys()
    code_keys = FileKeyStore(pki.keys_dir("codes"))
    log_signer = default_signer(FileKeyStore(pki.keys_dir(f"log-{config.dc}")))
    log_id = f"dc-{config.dc}"
    forwarder: Forwarder | None = None
    registry_executor = ThreadPoolExecutor(config.registry_threads, thread_name_prefix="gateway-registry")
    registry: RegistryPort = ThreadRegistry(ResidentsReadModel(), registry_executor)

    nonces: NoncePort
    codes: CodePort
    log_port: LogPort
    if uses_postgresql():
        from .pg import GroupCommitLog, PgCodes, PgNonces, PgRegistry, make_pool

        db = settings.DATABASES["default"]
        pool = make_pool(db, min_size=min(4, config.pool_size), max_size=config.pool_size, deferred_commit=True)
        log_pool = make_pool(db, min_size=1, max_size=2, name="moyai-gateway-log")
        group_log = GroupCommitLog(log_pool, log_id, log_signer, batch_size=config.batch_size)
        pg_codes = PgCodes(pool, code_keys, issue_batch=config.read_batch)
        codes, nonces, log_port = pg_codes, PgNonces(pool, DEFAULT_WINDOW, codes=pg_codes), group_log
        pg_registry = PgRegistry(db, registry, max_size=config.registry_pool_size, read_batch=config.read_batch)
        registry = pg_registry

        async def open_ports() -> None:
            await pool.open(wait=True, timeout=10)
            await log_pool.open(wait=True, timeout=10)

        async def close_ports() -> None:
            log.info("%s; %s; %s", group_log.summary(), pg_registry.summary(), pg_codes.summary())
            await group_log.close()
            await pg_registry.close()
            await pool.close()
            await log_pool.close()
    else:
        ports = ThreadPorts(NonceCache(DEFAULT_WINDOW), CodeService(code_keys, DbCodeStore()),
                            LogStore(log_id, log_signer, batch_size=config.batch_size),
                            ThreadPoolExecutor(1, thread_name_prefix="gateway-db"))
        nonces, codes, log_port = ports, ports, ports

        async def open_ports() -> None:
            return None

        async def close_ports() -> None:
            return None

    if config.peers:
        forwarder = Forwarder(config.peers, ca_file=str(pki.ca_cert), cert_file=str(party.cert),
                              key_file=str(party.tls_key), gateway_keys=peer_keys)
    service = GatewayService(config.dc, nonces, codes, registry, log_port, peer_keys, party.signer(), party.name,
                             forwarder=forwarder)
    timer: dict[str, asyncio.Task[None]] = {}

    async def checkpoints() -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_SECONDS)
            try:
                await log_port.checkpoint_now()
            except Exception:
                log.exception("定時チェックポイントを作成できませんでした（ログ %s）", log_id)

    async def startup() -> None:
        await open_ports()
        timer["task"] = asyncio.create_task(checkpoints())
        # Everything loaded so far (Django, the directory, the legal-basis table, keys) lives as
        # long as the process: out of the collector's sight, so that its full collections — which
        # stop the event loop — walk only what requests allocate (MOYAI_GC_FREEZE=0: off).
        if os.environ.get("MOYAI_GC_FREEZE", "1") != "0":
            gc.collect()
            gc.freeze()
        # The young generation is collected every GC_GEN0 allocations net, not Python's 700: each
        # exchange allocates thousands of short-lived objects (less CPU per exchange in three of four
        # alternating pairs: docs/performance.md, eighth round)
        gc.set_threshold(collector_threshold(), *gc.get_threshold()[1:])

    async def shutdown() -> None:
        if "task" in timer:
            timer["task"].cancel()
        try:
            await log_port.checkpoint_now()  # close the partial batch: no entry left unanchored
        except Exception:
            log.exception("終了時のチェックポイントを作成できませんでした（ログ %s）", log_id)
        if forwarder is not None:
            await forwarder.close()
        await close_ports()
        registry_executor.shutdown(wait=False)

    adapters: dict[str, MountedAdapter] = {}
    soap = soap_mount(pki, config.dc, service)  # over the same service: same ports, same log, same routing
    if soap is not None:
        adapters["soap"] = soap
    return GatewayApp(service, data_centre=config.dc, startup=startup, shutdown=shutdown, adapters=adapters)


#: allocations (net) between two collections of the young generation in the served gateway
GC_GEN0: Final = 20_000


def collector_threshold() -> int:
    """The young generation's collection threshold: ``MOYAI_GC_GEN0``, else :data:`GC_GEN0`."""
    text = os.environ.get("MOYAI_GC_GEN0", "").strip()
    if not text:
        return GC_GEN0
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"MOYAI_GC_GEN0 は1以上の整数で指定してください（{text!r}）")
    return int(text)


def serve(config: GatewayConfig) -> None:
    import uvicorn

    pki = Pki(config.pki_dir)
    party = pki.party(gateway_party(config.dc))
    common = {"host": config.host, "port": config.port, "lifespan": "on", "http": http_protocol(config.http),
              "loop": config.loop,
              "ssl_certfile": str(party.cert), "ssl_keyfile": str(party.tls_key), "ssl_ca_certs": str(pki.ca_cert),
              "ssl_cert_reqs": ssl.CERT_REQUIRED, "timeout_keep_alive": config.keep_alive,
              "log_level": os.environ.get("MOYAI_GATEWAY_LOG_LEVEL", "warning"), "access_log": False,
              # the gateway faces its peers itself (mutual TLS): no proxy's X-Forwarded-* headers are
              # to be believed, and uvicorn's middleware for them wrapped every request
              "proxy_headers": False}
    if config.workers > 1:
        os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))  # read by .worker.app
        with contextlib.suppress(KeyboardInterrupt):
            # A worker imports Django and builds its app before it answers the supervisor's ping:
            # on a loaded machine that takes longer than uvicorn's 5 s default.
            uvicorn.run("moyai.gateway.server.worker:app", factory=True, workers=config.workers,
                        timeout_worker_healthcheck=60, **common)  # type: ignore[arg-type]
        return
    server = uvicorn.Server(uvicorn.Config(build_app(config), **common))  # type: ignore[arg-type]
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
