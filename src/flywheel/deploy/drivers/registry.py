"""Drivers by name from settings: `{"driver": "haproxy", "socket": "/run/haproxy.sock"}` etc.

SSH client keys and kubeconfigs may name a stored credential ("credential:NAME") instead of a
file: it is looked up when the driver is built (each step builds its own), decrypted in memory
only, and a missing one fails the build with InvalidInput before any instance is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from flywheel.deploy.drivers.base import DriverError, LoadBalancer, Target
from flywheel.errors import InvalidInput, NotFound
from flywheel.vault.credential_values import CredentialKind, referenced_name, ssh_key
from flywheel.vault.credential_values import kubeconfig as kubeconfig_of

if TYPE_CHECKING:
    import asyncssh

    from flywheel.deploy.drivers.kubernetes import KubernetesRollout
    from flywheel.vault.service import CredentialLookup

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


def _credential(
    credentials: CredentialLookup | None, name: str, kind: CredentialKind, used_as: str
) -> str:
    """The decrypted value of a credential the settings name, or InvalidInput saying why not."""
    if credentials is None:
        raise InvalidInput(f"{used_as} names credential '{name}', but no credential store is given")
    try:
        return credentials(name, kind)
    except NotFound:
        raise InvalidInput(
            f"{used_as} names credential '{name}', which does not exist (flywheel credential list)"
        ) from None
    except InvalidInput as exc:
        raise InvalidInput(f"{used_as}: {exc.message}") from None


def _client_keys(
    config: Mapping[str, Any], credentials: CredentialLookup | None
) -> list[str | asyncssh.SSHKey] | None:
    """Key files as they are; "credential:NAME" entries as keys loaded from the store."""
    listed = _typed(config, "client_keys", list, None)
    if listed is None:
        return None
    keys: list[str | asyncssh.SSHKey] = []
    for entry in listed:
        name = referenced_name(entry)
        if name is None:
            keys.append(str(entry))
            continue
        value = _credential(credentials, name, CredentialKind.SSH_PRIVATE_KEY, "client_keys")
        keys.append(ssh_key(value))
    return keys


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


def target_for(config: Mapping[str, Any], credentials: CredentialLookup | None = None) -> Target:
    """The deploy target the settings name: local or ssh (credentials resolve "credential:")."""
    if isinstance(config, Mapping) and config.get("driver") == "kubernetes":
        raise InvalidInput(
            "the kubernetes driver rolls a whole Deployment, not one instance at a time: "
            "configure it as a rollout (rollout_for), not as a target"
        )
    name = _driver(config, "target", TARGETS)
    if name == "local":
        return _local(config)
    return _ssh(config, credentials)


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


def _ssh(config: Mapping[str, Any], credentials: CredentialLookup | None) -> Target:
    from flywheel.deploy.drivers.ssh import SshCommands, SshTarget

    allowed = {"commands", "username", "port", "client_keys", "known_hosts", "verify_host_keys"}
    _check_keys(config, "target", allowed)
    commands = _typed(config, "commands", dict, None)
    if commands is None:
        raise InvalidInput("the ssh target needs 'commands' (start, stop, health, version)")
    verify = config.get("verify_host_keys", True)
    known_hosts = _typed(config, "known_hosts", str, ()) if verify else None
    client_keys = _client_keys(config, credentials)
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


def rollout_for(
    config: Mapping[str, Any], credentials: CredentialLookup | None = None
) -> KubernetesRollout:
    """A Kubernetes rollout from `{"driver": "kubernetes", "namespace", "deployment", …}`.

    `kubeconfig` is a file, or "credential:NAME" for a stored kubeconfig (loaded from memory).
    """
    _driver(config, "rollout", ("kubernetes",))
    _check_keys(
        config, "rollout", {"namespace", "deployment", "container", "kubeconfig", "context"}
    )
    from flywheel.deploy.drivers.kubernetes import KubernetesRollout

    where = {
        "namespace": str(_required(config, "rollout", "namespace")),
        "deployment": str(_required(config, "rollout", "deployment")),
        "container": _typed(config, "container", str, None),
        "context": _typed(config, "context", str, None),
    }
    kubeconfig = _typed(config, "kubeconfig", str, None)
    name = referenced_name(kubeconfig)
    if name is None:
        return _building(
            "kubernetes rollout",
            lambda: KubernetesRollout.from_kubeconfig(kubeconfig=kubeconfig, **where),
        )
    value = _credential(credentials, name, CredentialKind.KUBECONFIG, "kubeconfig")
    loaded = kubeconfig_of(value)
    return _building(
        "kubernetes rollout", lambda: KubernetesRollout.from_kubeconfig_dict(loaded, **where)
    )
