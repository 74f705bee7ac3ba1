"""Kubernetes: a Deployment rolls itself; Flywheel sets the image and follows the rollout.

This is a different shape from the Target protocol: Kubernetes replaces the pods itself, so
`KubernetesRollout` sets the container image, waits for the rollout the way
`kubectl rollout status` does (observedGeneration, updatedReplicas, replicas,
availableReplicas, the ProgressDeadlineExceeded condition), and can undo by setting the
previous image, which it keeps in an annotation so that a new process can still undo.

Tested with unit tests against the client's own model objects through a fake AppsV1Api; it has
NOT been run against a real cluster here (no cluster on these machines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config  # type: ignore[import-untyped]
from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]

from flywheel.deploy.drivers.base import DriverError

PREVIOUS_IMAGE = "flywheel.dev/previous-image"


@dataclass(frozen=True)
class RolloutProgress:
    """Where a Deployment's rollout stands."""

    generation: int
    observed_generation: int
    desired: int
    updated: int
    total: int
    available: int
    done: bool
    message: str


def progress_of(deployment: Any) -> RolloutProgress:
    """Read a V1Deployment's rollout state (the rules of `kubectl rollout status`)."""
    spec, status = deployment.spec, deployment.status
    generation = deployment.metadata.generation or 0
    observed = status.observed_generation or 0
    desired = spec.replicas if spec.replicas is not None else 1
    updated = status.updated_replicas or 0
    total = status.replicas or 0
    available = status.available_replicas or 0

    def state(done: bool, message: str) -> RolloutProgress:
        return RolloutProgress(
            generation, observed, desired, updated, total, available, done, message
        )

    if observed < generation:
        return state(False, "waiting for the deployment spec update to be observed")
    for condition in status.conditions or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            raise DriverError(
                f"rollout of {deployment.metadata.name} exceeded its progress deadline"
            )
    if updated < desired:
        return state(False, f"{updated} of {desired} new replicas have been updated")
    if total > updated:
        return state(False, f"{total - updated} old replicas are pending termination")
    if available < updated:
        return state(False, f"{available} of {updated} updated replicas are available")
    return state(True, f"deployment {deployment.metadata.name} successfully rolled out")


class KubernetesRollout:
    """Sets one Deployment's container image, follows its rollout, and can undo it."""

    def __init__(
        self,
        api: Any,
        *,
        namespace: str,
        deployment: str,
        container: str | None = None,
        poll_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """api: a kubernetes.client.AppsV1Api (or an object with the same methods)."""
        self.api = api
        self.namespace = namespace
        self.deployment = deployment
        self.container = container
        self.poll_s = poll_s
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_kubeconfig(
        cls,
        *,
        namespace: str,
        deployment: str,
        container: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
    ) -> KubernetesRollout:
        """Connect with a kubeconfig file (or the in-cluster service account when none)."""
        try:
            if kubeconfig is None:
                try:
                    config.load_incluster_config()
                except config.ConfigException:
                    config.load_kube_config(context=context)
            else:
                config.load_kube_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError) as exc:
            raise DriverError(f"cannot load the Kubernetes configuration: {exc}") from exc
        return cls(
            client.AppsV1Api(), namespace=namespace, deployment=deployment, container=container
        )

    @classmethod
    def from_kubeconfig_dict(
        cls,
        kubeconfig: dict[str, Any],
        *,
        namespace: str,
        deployment: str,
        container: str | None = None,
        context: str | None = None,
    ) -> KubernetesRollout:
        """Connect with a kubeconfig held in memory (a stored credential), not the global one."""
        configuration = client.Configuration()
        try:
            config.load_kube_config_from_dict(
                kubeconfig, context=context, client_configuration=configuration
            )
        except (config.ConfigException, OSError, KeyError, TypeError, ValueError) as exc:
            raise DriverError(f"cannot load the Kubernetes configuration: {exc}") from exc
        api = client.AppsV1Api(client.ApiClient(configuration))
        return cls(api, namespace=namespace, deployment=deployment, container=container)

    def _where(self) -> str:
        return f"deployment {self.namespace}/{self.deployment}"

    def _call(self, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(name=self.deployment, namespace=self.namespace, **kwargs)
        except ApiException as exc:
            raise DriverError(
                f"cannot {what} {self._where()}: {exc.status} {exc.reason}".rstrip()
            ) from None

    def read(self) -> Any:
        """The Deployment (a V1Deployment)."""
        return self._call("read", self.api.read_namespaced_deployment)

    def _container_name(self, deployment: Any) -> str:
        names = [c.name for c in deployment.spec.template.spec.containers]
        if self.container is not None:
            if self.container not in names:
                raise DriverError(f"{self._where()} has no container {self.container!r}")
            return self.container
        if len(names) != 1:
            raise DriverError(
                f"{self._where()} has containers {', '.join(names)}: say which one to update"
            )
        return str(names[0])

    def current_image(self) -> str:
        """The image the Deployment's container is set to."""
        deployment = self.read()
        name = self._container_name(deployment)
        return next(
            str(c.image) for c in deployment.spec.template.spec.containers if c.name == name
        )

    def previous_image(self) -> str | None:
        """The image before the last change made through this class, if any."""
        annotations = self.read().metadata.annotations or {}
        return annotations.get(PREVIOUS_IMAGE)

    def set_image(self, image: str) -> int:
        """Set the container's image (no-op when it already is); the generation to wait for."""
        deployment = self.read()
        name = self._container_name(deployment)
        current = next(c.image for c in deployment.spec.template.spec.containers if c.name == name)
        if current == image:
            return int(deployment.metadata.generation or 0)
        patch = {
            "metadata": {"annotations": {PREVIOUS_IMAGE: current}},
            "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}},
        }
        patched = self._call("patch", self.api.patch_namespaced_deployment, body=patch)
        return int(patched.metadata.generation or 0)

    def progress(self) -> RolloutProgress:
        """The rollout's state now (DriverError when its progress deadline passed)."""
        return progress_of(self._call("read", self.api.read_namespaced_deployment_status))

    def wait(self, *, timeout_s: float) -> RolloutProgress:
        """Poll until the rollout is done; DriverError on timeout or a passed deadline."""
        deadline = self._clock() + timeout_s
        while True:
            state = self.progress()
            if state.done:
                return state
            if self._clock() >= deadline:
                raise DriverError(
                    f"rollout of {self._where()} not done after {timeout_s:g}s: {state.message}"
                )
            self._sleep(self.poll_s)

    def deploy(self, image: str, *, timeout_s: float) -> RolloutProgress:
        """Set the image and wait for the rollout."""
        self.set_image(image)
        return self.wait(timeout_s=timeout_s)

    def undo(self, *, timeout_s: float) -> RolloutProgress:
        """Set the previous image back and wait for that rollout."""
        previous = self.previous_image()
        if previous is None:
            raise DriverError(f"{self._where()} has no previous image recorded to go back to")
        return self.deploy(previous, timeout_s=timeout_s)
