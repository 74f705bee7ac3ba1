"""KubernetesRollout against a fake AppsV1Api that returns the client's own model objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes.client import (  # type: ignore[import-untyped]
    V1Container,
    V1Deployment,
    V1DeploymentCondition,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1LabelSelector,
    V1ObjectMeta,
    V1PodSpec,
    V1PodTemplateSpec,
)
from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]

from flywheel.deploy.drivers.base import DriverError
from flywheel.deploy.drivers.kubernetes import PREVIOUS_IMAGE, KubernetesRollout, progress_of


def deployment(image: str = "shop:1.0", replicas: int = 3, containers: int = 1) -> V1Deployment:
    names = ["shop", "sidecar"][:containers]
    return V1Deployment(
        metadata=V1ObjectMeta(name="shop", namespace="prod", generation=4, annotations={}),
        spec=V1DeploymentSpec(
            replicas=replicas,
            selector=V1LabelSelector(match_labels={"app": "shop"}),
            template=V1PodTemplateSpec(
                spec=V1PodSpec(
                    containers=[
                        V1Container(name=n, image=image if n == "shop" else "envoy:1")
                        for n in names
                    ]
                )
            ),
        ),
        status=V1DeploymentStatus(
            observed_generation=4,
            replicas=replicas,
            updated_replicas=replicas,
            available_replicas=replicas,
        ),
    )


@dataclass
class FakeAppsApi:
    """Applies strategic-merge patches of the image and rolls pods one step per status read."""

    current: V1Deployment = field(default_factory=deployment)
    patches: list[dict[str, Any]] = field(default_factory=list)
    stuck: bool = False
    deadline_exceeded: bool = False
    missing: bool = False

    def read_namespaced_deployment(self, name: str, namespace: str) -> V1Deployment:
        if self.missing:
            raise ApiException(status=404, reason="Not Found")
        assert (name, namespace) == ("shop", "prod")
        return self.current

    def patch_namespaced_deployment(
        self, name: str, namespace: str, body: dict[str, Any]
    ) -> V1Deployment:
        if self.missing:
            raise ApiException(status=403, reason="Forbidden")
        self.patches.append(body)
        meta, spec = self.current.metadata, self.current.spec
        meta.annotations = {**(meta.annotations or {}), **body["metadata"]["annotations"]}
        for patch in body["spec"]["template"]["spec"]["containers"]:
            for container in spec.template.spec.containers:
                if container.name == patch["name"]:
                    container.image = patch["image"]
        meta.generation += 1
        status = self.current.status
        status.updated_replicas = 0
        return self.current

    def read_namespaced_deployment_status(self, name: str, namespace: str) -> V1Deployment:
        meta, status, desired = (
            self.current.metadata,
            self.current.status,
            self.current.spec.replicas,
        )
        if self.deadline_exceeded:
            status.conditions = [
                V1DeploymentCondition(
                    type="Progressing", status="False", reason="ProgressDeadlineExceeded"
                )
            ]
        elif not self.stuck:
            if status.observed_generation < meta.generation:
                status.observed_generation = meta.generation  # controller saw the change
                status.replicas = desired + 1  # surge pod
                status.available_replicas = desired
            elif status.updated_replicas < desired:
                status.updated_replicas += 1
            elif status.replicas > desired:
                status.replicas = desired
        return self.current


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def rollout(api: FakeAppsApi, container: str | None = None) -> tuple[KubernetesRollout, Clock]:
    clock = Clock()
    return (
        KubernetesRollout(
            api,
            namespace="prod",
            deployment="shop",
            container=container,
            poll_s=1.0,
            sleep=clock.sleep,
            clock=lambda: clock.now,
        ),
        clock,
    )


def test_deploy_sets_the_image_and_follows_the_rollout() -> None:
    api = FakeAppsApi()
    shop, clock = rollout(api)
    assert shop.current_image() == "shop:1.0"
    state = shop.deploy("shop:1.1", timeout_s=60)
    assert state.done and state.message == "deployment shop successfully rolled out"
    assert (state.generation, state.observed_generation) == (5, 5)
    assert (state.updated, state.total, state.available) == (3, 3, 3)
    assert shop.current_image() == "shop:1.1"
    assert api.patches == [
        {
            "metadata": {"annotations": {PREVIOUS_IMAGE: "shop:1.0"}},
            "spec": {"template": {"spec": {"containers": [{"name": "shop", "image": "shop:1.1"}]}}},
        }
    ]
    assert clock.now == 4.0  # observed, 3 updated one by one, then the surge pod gone: 5 reads


def test_setting_the_same_image_is_a_no_op() -> None:
    api = FakeAppsApi()
    shop, _ = rollout(api)
    assert shop.set_image("shop:1.0") == 4
    assert api.patches == []
    assert shop.wait(timeout_s=1).done


def test_undo_sets_the_previous_image_back_even_from_a_new_object() -> None:
    api = FakeAppsApi()
    first, _ = rollout(api)
    first.deploy("shop:2.0-faulty", timeout_s=60)
    later, _ = rollout(api)  # e.g. after a restart
    assert later.previous_image() == "shop:1.0"
    assert later.undo(timeout_s=60).done
    assert later.current_image() == "shop:1.0"
    assert later.previous_image() == "shop:2.0-faulty"


def test_undo_without_history_raises() -> None:
    shop, _ = rollout(FakeAppsApi())
    with pytest.raises(DriverError, match="no previous image recorded"):
        shop.undo(timeout_s=5)


def test_a_stuck_rollout_times_out_with_where_it_stands() -> None:
    api = FakeAppsApi()
    shop, clock = rollout(api)
    shop.set_image("shop:1.1")
    api.stuck = True
    with pytest.raises(
        DriverError, match=r"not done after 10s: waiting for the deployment spec update"
    ):
        shop.wait(timeout_s=10)
    assert clock.now == 10.0


def test_a_passed_progress_deadline_raises() -> None:
    api = FakeAppsApi()
    shop, _ = rollout(api)
    shop.set_image("shop:1.1")
    api.current.status.observed_generation = api.current.metadata.generation
    api.deadline_exceeded = True
    with pytest.raises(DriverError, match="exceeded its progress deadline"):
        shop.wait(timeout_s=10)


def test_api_errors_become_driver_errors() -> None:
    shop, _ = rollout(FakeAppsApi(missing=True))
    with pytest.raises(DriverError, match="cannot read deployment prod/shop: 404 Not Found"):
        shop.current_image()


def test_several_containers_need_a_name() -> None:
    api = FakeAppsApi(current=deployment(containers=2))
    with pytest.raises(DriverError, match="has containers shop, sidecar: say which one"):
        rollout(api)[0].set_image("shop:1.1")
    with pytest.raises(DriverError, match="has no container 'web'"):
        rollout(api, container="web")[0].set_image("shop:1.1")
    named, _ = rollout(api, container="shop")
    named.deploy("shop:1.1", timeout_s=60)
    images = {c.name: c.image for c in api.current.spec.template.spec.containers}
    assert images == {"shop": "shop:1.1", "sidecar": "envoy:1"}


@pytest.mark.parametrize(
    ("status", "done", "message"),
    [
        ({"observed_generation": 3}, False, "spec update to be observed"),
        ({"updated_replicas": 1}, False, "1 of 3 new replicas have been updated"),
        ({"replicas": 4}, False, "1 old replicas are pending termination"),
        ({"available_replicas": 2}, False, "2 of 3 updated replicas are available"),
        ({}, True, "successfully rolled out"),
    ],
)
def test_progress_follows_kubectl_rollout_status(
    status: dict[str, int], done: bool, message: str
) -> None:
    current = deployment()
    for key, value in status.items():
        setattr(current.status, key, value)
    state = progress_of(current)
    assert state.done is done
    assert message in state.message


def test_from_kubeconfig_reports_a_missing_file(tmp_path: Any) -> None:
    with pytest.raises(DriverError, match="cannot load the Kubernetes configuration"):
        KubernetesRollout.from_kubeconfig(
            namespace="prod", deployment="shop", kubeconfig=str(tmp_path / "missing")
        )
