"""Drivers by name from settings: `{"driver": "haproxy", "socket": "/run/haproxy.sock"}` etc."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from flywheel.deploy.drivers.base import DriverError, LoadBalancer, Target
from flywheel.errors import InvalidInput

if TYPE_CHECKING:
    from flywheel.deploy.drivers.kubernetes import KubernetesRollout

T = TypeVar("T")
LOAD_BALANCERS = ("haproxy", "none")
TARGETS = ("local", "ssh")


def _driver(config: Mapping[str, Any], kind: str, known: tuple[str, ...]) -> str:
    if not isinstance(config, Mapping):
        raise InvalidInput(f"{kind} settings must be an object with a 'driver'")
    name = config.get("driver")
    if not name:
        raise InvalidInput(f"{kind} settings need a 'driver' (one of: {', '.join(known)})")
    if name not in known:
        raise InvalidInput(f"unknown {kind} driver {name!r} (known: {', '.join(known)})")
    return str(name)


def _check_keys(config: Mapping[str, Any], kind: str, allowed: set[str]) -> None:
    unknown = set(config) - allowed - {"driver"}
    if unknown:
        raise InvalidInput(f"unknown {kind} settings: {', '.join(sorted(unknown))}")


def _required(config: Mapping[str, Any], kind: str, key: str) -> Any:
    value = config.get(key)
    if value in (None, ""):
        raise InvalidInput(f"the {config.get('driver')} {kind} needs '{key}'")
    return value


def _typed(config: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = config.get(key, default)
    if value is not default and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InvalidInput(f"setting '{key}' has the wrong type ({type(value).__name__})")
    return value


def _building(kind: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except DriverError as exc:
        raise InvalidInput(f"{kind} settings: {exc}") from exc


def load_balancer_for(config: Mapping[str, Any]) -> LoadBalancer:
    """The load balancer the settings name: haproxy (socket or host:port) or none."""
    name = _driver(config, "load balancer", LOAD_BALANCERS)
    if name == "none":
        from flywheel.deploy.drivers.no_balancer import NoLoadBalancer

        _check_keys(config, "load balancer", set())
        return NoLoadBalancer()
    from flywheel.deploy.drivers.haproxy import HaproxyLoadBalancer

    _check_keys(config, "load balancer", {"socket", "timeout_s"})
    socket = _required(config, "load balancer", "socket")
    timeout_s = _typed(config, "timeout_s", (int, float), 2.0)
    return HaproxyLoadBalancer(str(socket), timeout_s=float(timeout_s))


def target_for(config: Mapping[str, Any]) -> Target:
    """The deploy target the settings name: local or ssh."""
    if isinstance(config, Mapping) and config.get("driver") == "kubernetes":
        raise InvalidInput(
            "the kubernetes driver rolls a whole Deployment, not one instance at a time: "
            "configure it as a rollout (rollout_for), not as a target"
        )
    name = _driver(config, "target", TARGETS)
    if name == "local":
        return _local(config)
    return _ssh(config)


def _local(config: Mapping[str, Any]) -> Target:
    from flywheel.deploy.drivers.local import STOREFRONT_COMMAND, LocalTarget

    allowed = {"state_dir", "command", "version_args", "faulty_marker", "env", "http_timeout_s"}
    _check_keys(config, "target", allowed)
    state_dir = _required(config, "target", "state_dir")
    return _building(
        "local target",
        lambda: LocalTarget(
            str(state_dir),
            command=_typed(config, "command", (str, list), STOREFRONT_COMMAND),
            version_args=_typed(config, "version_args", dict, None),
            faulty_marker=_typed(config, "faulty_marker", str, "faulty"),
            env=_typed(config, "env", dict, None),
            http_timeout_s=float(_typed(config, "http_timeout_s", (int, float), 1.0)),
        ),
    )


def _ssh(config: Mapping[str, Any]) -> Target:
    from flywheel.deploy.drivers.ssh import SshCommands, SshTarget

    allowed = {"commands", "username", "port", "client_keys", "known_hosts", "verify_host_keys"}
    _check_keys(config, "target", allowed)
    commands = _typed(config, "commands", dict, None)
    if commands is None:
        raise InvalidInput("the ssh target needs 'commands' (start, stop, health, version)")
    verify = config.get("verify_host_keys", True)
    known_hosts = _typed(config, "known_hosts", str, ()) if verify else None
    client_keys = _typed(config, "client_keys", list, None)
    return _building(
        "ssh target",
        lambda: SshTarget(
            SshCommands.from_mapping(commands),
            username=_typed(config, "username", str, None),
            port=_typed(config, "port", int, 22),
            client_keys=client_keys,
            known_hosts=known_hosts,
        ),
    )


def rollout_for(config: Mapping[str, Any]) -> KubernetesRollout:
    """A Kubernetes rollout from `{"driver": "kubernetes", "namespace", "deployment", …}`."""
    _driver(config, "rollout", ("kubernetes",))
    _check_keys(
        config, "rollout", {"namespace", "deployment", "container", "kubeconfig", "context"}
    )
    from flywheel.deploy.drivers.kubernetes import KubernetesRollout

    return _building(
        "kubernetes rollout",
        lambda: KubernetesRollout.from_kubeconfig(
            namespace=str(_required(config, "rollout", "namespace")),
            deployment=str(_required(config, "rollout", "deployment")),
            container=_typed(config, "container", str, None),
            kubeconfig=_typed(config, "kubeconfig", str, None),
            context=_typed(config, "context", str, None),
        ),
    )
