"""Composition root: builds every component from the config and runs them in one nursery."""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from smsc.accounts import Accounts, FailedBinds
from smsc.capture.sink import CaptureFile
from smsc.capture.tap import SessionFactory, Tap, tapped_sessions
from smsc.clock import Clock
from smsc.config import (
    Config,
    ConfigError,
    FaultMixConfig,
    ListenerConfig,
    ListenerTlsConfig,
    effective_listeners,
)
from smsc.control.api import build_app, build_metrics_app
from smsc.control.plane import ControlPlane
from smsc.control.serve import serve_http
from smsc.data_dir import DataDirLock
from smsc.delivery.clock_control import ClockControl
from smsc.delivery.committer import Committer, StorePlacement
from smsc.delivery.esmes import EsmeDelivery
from smsc.delivery.mobile import MobileOriginator, run_mo_traffic
from smsc.delivery.outbound import OutboundDispatcher
from smsc.delivery.receivers import BindRegistry
from smsc.delivery.retention import purge_finished_messages
from smsc.delivery.scheduler import DeliveryScheduler
from smsc.delivery.simulation import SimulationControl
from smsc.distribution_lists import DistributionLists
from smsc.logs import pdu_tracer
from smsc.metrics import SmscMetrics
from smsc.receipts import ReceiptDialects
from smsc.routing.table import RoutingTable
from smsc.server.account_admin import AccountAdmin
from smsc.server.answers import AcceptedAnswers
from smsc.server.authentication import BindAuthenticator, ListenerPolicy
from smsc.server.broadcasts import BroadcastRequests
from smsc.server.congestion import CongestionGauge
from smsc.server.link import Link
from smsc.server.listener import ConnectionGate, SmppListener
from smsc.server.outbind import OutbindDialer
from smsc.server.service import SmscService
from smsc.server.sockets import open_listening_sockets
from smsc.server.stored_requests import StoredMessageRequests
from smsc.session import SessionLimits
from smsc.simulation.broadcasts import BroadcastAreas
from smsc.simulation.fate import Simulation
from smsc.store import (
    MemoryStore,
    Message,
    MessageStore,
    NewMessage,
    RetryPolicy,
    StoreOpenError,
)
from smsc.submit import SubmitPreparation

if TYPE_CHECKING:
    from smsc.cluster.node import ClusterNode  # (psycopg: imported only for its store)
    from smsc.cluster.simulation_sync import SimulationSync

log = logging.getLogger("smsc")


@dataclass(frozen=True)
class ListeningOn:
    """One SMPP listener as it runs: its name, address, bound port and whether it is TLS."""

    name: str
    host: str
    port: int
    tls: bool


@dataclass
class RunningSmsc:
    """What a started SMSC reports: its ports and the objects tests and tools may use."""

    smpp_port: int
    tls_port: int | None
    store: MessageStore
    binds: BindRegistry
    committer: Committer
    links: set[Link] = field(default_factory=set)
    shutdown: trio.Event = field(default_factory=trio.Event)
    attach: Callable[[trio.abc.Stream], None] = lambda stream: None
    """Serve an already connected stream (e.g. one end of trio's memory_stream_pair)."""
    http_port: int | None = None
    """Port of the control API and /metrics, when enabled."""
    metrics: SmscMetrics | None = None
    mobile: MobileOriginator | None = None
    """Injects mobile-originated messages (`await running.mobile.send_text(...)`)."""
    control: ControlPlane | None = None
    """Sessions, message lookups, MO injection: what the HTTP API does, in Python."""
    simulation: SimulationControl | None = None
    """Runtime control of simulated handsets and networks: state, inboxes, outages, fault
    mixes, reset (see docs/architecture.md)."""
    clock: ClockControl | None = None
    """Simulated time: read it, advance it (docs/clock.md)."""
    listeners: list[ListeningOn] = field(default_factory=list)
    """Every SMPP listener, in the config's order."""
    node: ClusterNode | None = None
    """This process as a node of a shared PostgreSQL store (docs/cluster.md)."""
    accounts: AccountAdmin | None = None
    """Accounts created, changed and deleted at run time (the control API, reload)."""


def session_limits(config: Config, window: int) -> SessionLimits:
    server = config.server
    return SessionLimits(
        max_command_length=server.max_command_length,
        window=window,
        session_init_timer=server.session_init_timer,
        enquire_link_timer=server.enquire_link_timer,
        inactivity_timer=server.inactivity_timer,
        response_timer=server.response_timer,
        pdu_read_timer=server.pdu_read_timer,
    )


def open_store(
    config: Config, *, on_final: Callable[[Message], None] | None = None,
    accepted_notice: Callable[[NewMessage], bool] | None = None,
    max_pending: dict[str, int] | None = None, node_name: str = "",
) -> tuple[MessageStore, StorePlacement]:
    """The configured store and where the committer is to run its calls; `max_pending`, the
    limits per account, is the store's from then on (AccountAdmin changes it in place)."""
    retry = RetryPolicy(config.store.retry_schedule)
    if max_pending is None:
        max_pending = pending_limits(config)
    if config.store.kind == "sqlite":
        from smsc.store.sqlite import SqliteStore

        path = Path(config.store.data_dir) / "smsc.db"
        synchronous = config.store.synchronous.upper()
        if synchronous == "FULL" or config.store.writer == "thread":  # all off the trio thread
            return SqliteStore(path, retry=retry, max_pending=max_pending,
                               synchronous=synchronous, on_final=on_final,
                               accepted_notice=accepted_notice), StorePlacement.WORKER
        return SqliteStore(path, retry=retry, max_pending=max_pending, synchronous=synchronous,
                           checkpoints="caller", on_final=on_final,
                           accepted_notice=accepted_notice), StorePlacement.COMMITS_ON_LOOP
    if config.store.kind == "postgresql":
        try:
            from smsc.store.postgresql import PostgresqlStore
        except ImportError as error:  # psycopg is an optional extra
            raise StoreOpenError(
                "store.kind = postgresql needs psycopg: pip install "
                f"'smsc-simulator[postgresql]' ({error})") from error
        return PostgresqlStore(
            config.store.dsn, retry=retry, max_pending=max_pending,
            synchronous_commit=config.store.postgresql.synchronous_commit, on_final=on_final,
            accepted_notice=accepted_notice, node_name=node_name,
            node_timeout=config.store.postgresql.node_timeout), StorePlacement.WORKER
    return (MemoryStore(retry=retry, max_pending=max_pending,
                        max_finished=config.store.max_finished, on_final=on_final,
                        accepted_notice=accepted_notice), StorePlacement.LOOP)


def node_name(config: Config, bound: list[list[trio.SocketListener]]) -> str:
    """How a node is named among the others: its system_id and its first SMPP address."""
    for sockets in bound:
        for listener in sockets:
            host, port = listener.socket.getsockname()[:2]
            return f"{config.server.system_id}@{host}:{port}"
    return config.server.system_id


def cluster_node(store: MessageStore, *, committer: Committer, binds: BindRegistry,
                 wake_outbound: Callable[[], None], on_lost: Callable[[], None],
                 session_id: Callable[[Link], int], supervisor: int | None,
                 simulation: SimulationSync | None) -> ClusterNode | None:
    """The store's node, for a PostgreSQL store (the only kind several processes share)."""
    if type(store).__name__ != "PostgresqlStore":  # (psycopg is imported only for it)
        return None
    from smsc.cluster.node import ClusterNode
    from smsc.cluster.simulation_sync import CHANNEL
    from smsc.store.postgresql import PostgresqlStore

    assert isinstance(store, PostgresqlStore)
    return ClusterNode(store=store, committer=committer, binds=binds,
                       wake_outbound=wake_outbound, on_lost=on_lost, session_id=session_id,
                       supervisor=supervisor,
                       listeners={CHANNEL: simulation.poke} if simulation else None)


def simulation_sync(store: MessageStore, control: SimulationControl
                    ) -> SimulationSync | None:
    """On a PostgreSQL store, the simulation shared with the other nodes (its changes go
    through the store: `control.shared`); None on a store of one process's own."""
    if type(store).__name__ != "PostgresqlStore":
        return None
    from smsc.cluster.simulation_sync import SimulationSync
    from smsc.store.postgresql import PostgresqlStore

    assert isinstance(store, PostgresqlStore)
    sync = SimulationSync(dsn=store.dsn, node_id=store.node_id, apply=control.apply)
    control.shared = sync
    return sync


async def simulation_start(store: MessageStore, simulation: Simulation, clock: Clock
                           ) -> float:
    """The simulation's time base (simulated time) and seed: this process's start and seed,
    or on a PostgreSQL store those of the first of the nodes running (docs/cluster.md).

    Raises:
        ConfigError: this node's configured seed differs from theirs.
    """
    now = clock.simulated()
    if type(store).__name__ != "PostgresqlStore":
        return now
    from smsc.cluster.simulation_sync import join_cluster
    from smsc.store.postgresql import PostgresqlStore

    assert isinstance(store, PostgresqlStore)
    seed, started = await trio.to_thread.run_sync(
        join_cluster, store.dsn, store.node_id, store.node_timeout, simulation.settings.seed,
        simulation.seed, clock.wall().timestamp())
    if seed != simulation.seed:
        log.info("simulation: the seed of the nodes running on this store, %d", seed)
        simulation.use_seed(seed)
    return min(now, clock.simulated_of(datetime.fromtimestamp(started, UTC)))


def pending_limits(config: Config) -> dict[str, int]:
    return {a.system_id: a.max_pending for a in config.accounts if a.max_pending}


def route_dialect(routes: RoutingTable, fields: NewMessage) -> str:
    """The receipt dialect the route rule of a message names ("" for none)."""
    rule = routes.rule_for(ton=fields.dest_addr_ton, npi=fields.dest_addr_npi,
                           destination=fields.destination_addr, account=fields.system_id,
                           source=fields.source_addr)
    return rule.receipt_dialect if rule is not None else ""


def tls_context(tls: ListenerTlsConfig, key: str = "server.tls") -> ssl.SSLContext | None:
    """A listener's server context: its certificate, and with client_ca the client
    certificates it asks for (required, or optional and verified when given).

    Raises:
        ConfigError: a file that cannot be loaded, named by its key under `key`.
    """
    if not tls.enabled:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(tls.certfile, tls.keyfile)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError("", f"{key}.certfile", f"cannot load {tls.certfile} with "
                          f"{tls.keyfile}: {_reason(error)}") from None
    if tls.client_ca:
        try:
            context.load_verify_locations(cafile=tls.client_ca)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError("", f"{key}.client_ca",
                              f"cannot load {tls.client_ca}: {_reason(error)}") from None
        context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    return context


def _reason(error: OSError | ssl.SSLError) -> str:
    return (getattr(error, "reason", None) or error.strerror or str(error)).lower()


def listener_tls_key(config: Config, index: int) -> str:
    """Where the index-th effective listener's TLS is configured, for error messages."""
    return f"server.listeners[{index}].tls" if config.server.listeners else "server.tls"


async def run(
    config: Config, *, reuse_port: bool = False,
    task_status: trio.TaskStatus[RunningSmsc] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the SMSC until cancelled or until `RunningSmsc.shutdown` is set.

    The SMPP ports are bound first: a port in use stops it before the data directory or
    the store is touched. `reuse_port` binds them with SO_REUSEPORT (`--workers`)."""
    bound = bind_listeners(config, reuse_port=reuse_port)
    lock = DataDirLock(config.store.data_dir) if config.store.kind == "sqlite" else None
    try:
        if lock is not None:
            lock.acquire()  # before anything in the directory is touched
        await _run(config, bound, supervisor=os.getppid() if reuse_port else None,
                   task_status=task_status)
    finally:
        if lock is not None:
            lock.release()
        for sockets in bound:
            for listener in sockets:
                listener.socket.close()  # (those the listeners never served)


def bind_listeners(config: Config, *, reuse_port: bool) -> list[list[trio.SocketListener]]:
    """The listening sockets of every effective listener, in the config's order."""
    bound: list[list[trio.SocketListener]] = []
    try:
        for wanted in effective_listeners(config.server):
            bound.append(open_listening_sockets(wanted.host, wanted.port,
                                                reuse_port=reuse_port))
    except BaseException:
        for sockets in bound:
            for listener in sockets:
                listener.socket.close()
        raise
    return bound


def give_back_fates(simulation: Simulation, news: list[NewMessage]) -> None:
    """The submits of a batch the store did not write give their copy numbers back, the last
    first, so that the next copies of their messages take them (docs/simulation.md)."""
    for new in reversed(news):
        simulation.give_back(new.fate)


async def _run(config: Config, bound: list[list[trio.SocketListener]], *,
               supervisor: int | None, task_status: trio.TaskStatus[RunningSmsc]) -> None:
    """`supervisor`: the pid of the `--workers` supervisor (reuse_port is `--workers`), whose
    first worker's /metrics gathers its siblings' (None: not a worker)."""
    clock = Clock(scale=config.simulation.time_scale)
    metrics = SmscMetrics(enabled=config.control.metrics)
    simulation = Simulation(networks=config.networks, handsets=config.handsets,
                            settings=config.simulation)
    routes = RoutingTable(config.routing, tuple(simulation.networks))
    dialects = ReceiptDialects(
        config.receipt_dialects,
        accounts={a.system_id: a.receipt_dialect for a in config.accounts},
        networks={n.name: n.receipt_dialect for n in config.networks},
        submit_id_format=config.server.message_id_format,
        by_route=(partial(route_dialect, routes)
                  if any(rule.receipt_dialect for rule in config.routing.rules) else None),
    )
    max_pending = pending_limits(config)
    store, placement = open_store(
        config, max_pending=max_pending, on_final=metrics.record_final if metrics.enabled else None,
        accepted_notice=(dialects.notifies_acceptance if dialects.any_notify_acceptance
                         else None), node_name=node_name(config, bound),
    )
    try:
        started = await simulation_start(store, simulation, clock)  # schedules, outages
    except BaseException:
        store.close()
        raise
    congestion = CongestionGauge(
        pending_count=store.pending_count,
        max_pending={a.system_id: a.max_pending for a in config.accounts if a.max_pending})
    answers = AcceptedAnswers(clock=clock, metrics=metrics,
                              id_format=config.server.message_id_format, congestion=congestion)
    committer = Committer(store, clock=clock, placement=placement,
                          batch_max=config.store.batch_max,
                          on_commit=metrics.record_commit if metrics.enabled else None,
                          after_callbacks=answers.send,
                          on_not_stored=partial(give_back_fates, simulation))
    binds = BindRegistry()
    links: set[Link] = set()
    accounts = Accounts(config.accounts, clock.monotonic())
    mobile = MobileOriginator(accounts=config.accounts, committer=committer, clock=clock)
    control = ControlPlane(id_format=config.server.message_id_format, clock=clock,
                           committer=committer, links=links, metrics=metrics, mobile=mobile,
                           accounts=[a.system_id for a in config.accounts])
    esmes = EsmeDelivery(committer=committer, binds=binds, clock=clock, dialects=dialects)
    outbound = OutboundDispatcher(committer=committer, binds=binds, clock=clock,
                                  dialects=dialects, on_acknowledged=control.on_acknowledged,
                                  esmes=esmes)
    clock_control = ClockControl(clock=clock, committer=committer)
    simulation_control = SimulationControl(simulation=simulation, committer=committer,
                                           binds=binds, mobile=mobile, clock=clock,
                                           started=started)
    pending_limited = {a.system_id for a in config.accounts if a.max_pending}
    """Changed in place by AccountAdmin."""
    scheduler = DeliveryScheduler(
        committer=committer, simulation=simulation, clock=clock, started=started,
        pending_limited=pending_limited,
        on_attempt=metrics.record_attempt if metrics.enabled else None,
        follow_up=simulation_control.after_attempt, esmes=esmes,
    )
    shutdown = trio.Event()
    shared = simulation_sync(store, simulation_control)
    node = cluster_node(store, committer=committer, binds=binds, wake_outbound=outbound.wake,
                        on_lost=shutdown.set, session_id=control.session_id,
                        supervisor=supervisor, simulation=shared)
    control.cluster = node
    esmes.elsewhere = node
    authenticator = BindAuthenticator(
        accounts=accounts, binds=binds, metrics=metrics, clock=clock, cluster=node,
        system_id=config.server.system_id,
        failed_binds=FailedBinds(config.server.bind_failure_backoff,
                                 config.server.bind_failure_backoff_max,
                                 allowed=config.server.bind_failures_allowed),
    )
    lists = DistributionLists(config.accounts)
    submits = SubmitPreparation(routes, config.store, lists, config.accounts)
    stored = StoredMessageRequests(committer=committer, clock=clock,
                                   id_format=config.server.message_id_format,
                                   submits=submits, after_change=outbound.wake,
                                   change=node.requests.change if node is not None else None)
    broadcasts = BroadcastRequests(areas=BroadcastAreas(config.networks), submits=submits,
                                   clock=clock, retention=config.store.retention)
    service = SmscService(
        id_format=config.server.message_id_format, authenticator=authenticator,
        submits=submits, stored=stored, outbound=outbound, clock=clock,
        metrics=metrics, simulation=simulation, answers=answers, accept=scheduler.accept,
        accept_held=scheduler.accept_held, start_held=scheduler.start_held,
        broadcasts=broadcasts,
    )
    admin = AccountAdmin(
        accounts=accounts, authenticator=authenticator, binds=binds, clock=clock,
        pending_limits=max_pending, pending_limited=pending_limited,
        unbind_timeout=config.server.shutdown_grace,
        on_change=partial(setattr, control, "accounts"),
        on_accounts=(mobile.use_accounts, submits.use_accounts, dialects.use_accounts),
        on_delete=(lists.forget_account,),
        receipt_dialects=dialects.names,
    )
    window = max((a.window for a in config.accounts), default=10)
    limits = session_limits(config, window)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(committer.run)
            await nursery.start(service.run)
            await nursery.start(stored.run)
            await nursery.start(scheduler.run)
            await nursery.start(outbound.run)
            await nursery.start(esmes.run)
            await nursery.start(
                partial(purge_finished_messages, committer, clock,
                        retention=config.store.retention)
            )
            await nursery.start(control.run)
            await nursery.start(simulation_control.run)
            await nursery.start(admin.run)
            if shared is not None:
                await nursery.start(shared.run)
            if node is not None:
                await nursery.start(node.run)
            on_sent = metrics.count_sent_pdu if metrics.enabled else None
            on_sent_prebuilt = metrics.count_sent_run if metrics.enabled else None
            new_session = await _session_taps(config, limits, clock, nursery)
            gate = ConnectionGate(config.server.max_connections,
                                  config.server.max_connections_per_address)

            def listener(name: str, context: ssl.SSLContext | None,
                         policy: ListenerPolicy) -> SmppListener:
                def on_link(link: Link) -> None:
                    authenticator.arrived(link, policy)
                    control.on_link(link)

                return SmppListener(handler=service, limits=limits, clock=clock, links=links,
                                    ssl_context=context, on_sent=on_sent,
                                    on_sent_prebuilt=on_sent_prebuilt, on_link=on_link,
                                    gate=gate, name=name, new_session=new_session)

            plain = listener("outbind", None, ListenerPolicy("outbind"))
            """Serves the connections the SMSC opens itself (outbind) and attached streams."""
            dialer = OutbindDialer(
                accounts=config.accounts, committer=committer, binds=binds, listener=plain,
                clock=clock, system_id=config.server.system_id,
            )
            await nursery.start(dialer.run)
            listening = []
            for index, wanted in enumerate(effective_listeners(config.server)):
                context = tls_context(wanted.tls, listener_tls_key(config, index))
                smpp = listener(wanted.name, context, listener_policy(wanted))
                port = await nursery.start(smpp.serve, bound[index], wanted.host)
                listening.append(ListeningOn(wanted.name, wanted.host, port, wanted.tls.enabled))
            smpp_port = next((item.port for item in listening if not item.tls), 0)
            tls_port = next((item.port for item in listening if item.tls), None)
            running = RunningSmsc(smpp_port, tls_port, store, binds, committer, links,
                                  shutdown=shutdown)
            running.node = node
            running.listeners = listening
            running.accounts = admin
            running.metrics = metrics
            running.control = control
            running.mobile = mobile
            running.simulation = simulation_control
            running.clock = clock_control
            if config.control.enabled:
                app = build_app(control, status=partial(status_of, running, config),
                                token=config.control.token, simulation=simulation_control,
                                clock=clock_control, accounts=admin, lists=lists,
                                max_body_bytes=config.control.max_body_bytes)
                running.http_port = await nursery.start(
                    serve_http, app, config.control.host, config.control.port
                )
            elif node is not None and supervisor is not None:  # gathered by the first worker
                metrics_port = await nursery.start(
                    serve_http, build_metrics_app(control, token=config.control.token),
                    "127.0.0.1", 0)
                await node.publish_metrics(f"127.0.0.1:{metrics_port}")
            running.attach = lambda stream: nursery.start_soon(plain.handle, stream)
            for stream in config.mo_traffic:
                await nursery.start(run_mo_traffic, stream, mobile, clock)
            task_status.started(running)
            await running.shutdown.wait()
            gate.close()  # no new connections during the grace period
            await shut_down(running, config.server.shutdown_grace)
            nursery.cancel_scope.cancel()
    finally:
        committer.close()
        store.close()


async def _session_taps(config: Config, limits: SessionLimits, clock: Clock,
                        nursery: trio.Nursery) -> SessionFactory | None:
    """The listeners' session factory when a capture file or the PDU trace taps the sessions
    (the capture's writer started in `nursery`); None when neither does, so sessions are
    plain and the hot path pays nothing for them."""
    taps: list[Callable[[str, str], Tap]] = []
    if config.logging.capture:
        capture = CaptureFile(Path(config.logging.capture), clock=clock,
                              texts=config.logging.log_texts)
        await nursery.start(capture.run)
        taps.append(capture.tap_for)
    trace = pdu_tracer(config.logging)
    if trace is not None:
        taps.append(trace)
    return tapped_sessions(limits, clock.monotonic, taps) if taps else None


def listener_policy(listener: ListenerConfig) -> ListenerPolicy:
    return ListenerPolicy(listener.name, frozenset(listener.accounts))


async def status_of(running: RunningSmsc, config: Config) -> dict[str, object]:
    """The JSON of /v1/status: ports, store, the node (its list of nodes read now), uptime
    and the sessions."""
    control = running.control
    assert control is not None
    return {
        "system_id": config.server.system_id,
        "smpp_port": running.smpp_port,
        "tls_port": running.tls_port,
        "listeners": [{"name": item.name, "host": item.host, "port": item.port,
                       "tls": item.tls} for item in running.listeners],
        "http_port": running.http_port,
        "store": config.store.kind,
        "node": await running.node.current_status() if running.node is not None else None,
        "uptime": round(control.clock.monotonic() - control.started_at, 3),
        "sessions": control.sessions(),
    }


async def shut_down(running: RunningSmsc, grace: float) -> None:
    """Unbind every session and let queued store writes finish, within `grace` seconds."""
    with trio.move_on_after(grace):
        async with trio.open_nursery() as nursery:
            for link in list(running.links):
                nursery.start_soon(link.unbind, grace)
        await running.committer.wait_idle()


def tune_garbage_collector() -> None:
    """Fewer, later cyclic-garbage collections for a long-running server.

    Stored messages and sessions are long-lived and hold no cycles worth hunting, yet the
    default thresholds rescan them again and again: with 1,000 binds the collector took about
    a fifth of the server's CPU. Everything alive after start-up (modules, config) is frozen
    out of the scans, and the youngest generation is collected every 50,000 allocations
    instead of 700. Only `smsc serve` does this; an embedding process keeps its own settings.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


LIVE_SECTIONS = ("accounts", "logging", "networks")
"""The config's sections a reload looks into; the others need a restart when changed."""


def reload_config(running: RunningSmsc, old: Config, new: Config) -> tuple[Config, list[str]]:
    """Apply what of `new` can change while the SMSC runs: the accounts (as AccountAdmin
    describes), logging.level and the networks' fault mixes. Returns the configuration now
    in force (`new` where applied, `old` elsewhere; the accounts as the running ones took
    them, restart-only keys as they were) and the keys that differ and need a restart
    (listeners, store, everything else), which keep their old values."""
    needs_restart = [f.name for f in dataclasses.fields(Config)
                     if f.name not in LIVE_SECTIONS
                     and getattr(old, f.name) != getattr(new, f.name)]
    in_force = dataclasses.replace(new, **{f.name: getattr(old, f.name)
                                           for f in dataclasses.fields(Config)
                                           if f.name not in LIVE_SECTIONS})
    if running.accounts is not None:  # in force: what the accounts took, not the file
        admin = running.accounts
        needs_restart += admin.replace_all(new.accounts)
        in_force = dataclasses.replace(in_force, accounts=tuple(
            taken for config in new.accounts
            if (taken := admin.get(config.system_id)) is not None))
    if new.logging.level != old.logging.level:
        logging.getLogger().setLevel(new.logging.level.upper())
        log.debug("logging level now %s", new.logging.level)  # seen only at debug
    if dataclasses.replace(new.logging, level=old.logging.level) != old.logging:
        needs_restart.append("logging")
        in_force = dataclasses.replace(in_force, logging=dataclasses.replace(
            old.logging, level=new.logging.level))
    if not _reload_faults(running, old, new):
        needs_restart.append("networks")
        in_force = dataclasses.replace(in_force, networks=old.networks)
    return in_force, needs_restart


def _reload_faults(running: RunningSmsc, old: Config, new: Config) -> bool:
    """Apply changed fault mixes; False (nothing applied) when the networks changed in any
    other way, which needs a restart."""
    if ([dataclasses.replace(n, faults=FaultMixConfig()) for n in new.networks]
            != [dataclasses.replace(n, faults=FaultMixConfig()) for n in old.networks]):
        return False
    if running.simulation is not None:
        for before, after in zip(old.networks, new.networks, strict=True):
            if before.faults != after.faults:
                running.simulation.configure_faults(after.name, after.faults)
    return True
