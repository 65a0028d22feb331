"""Smoke: RBAC is enforced and TokenRequest works, so the operator can run with exactly its chart's permissions."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config

from devstack.cluster import Cluster

pytestmark = pytest.mark.e2e


def _status_of(call: object, *args: str) -> int:
    try:
        call(*args)  # type: ignore[operator]
    except client.ApiException as error:
        return int(error.status)
    return 200


def test_a_service_account_token_bound_to_a_narrow_role_gets_403_outside_it(
    kube: Cluster, kube_api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "narrow"}})
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "read-configmaps"}, "rules": [rule]})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "narrow-reads-configmaps"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
            "subjects": [{"kind": "ServiceAccount", "name": "narrow", "namespace": namespace}],
        },
    )
    kubeconfig = kube.kubeconfig_for(namespace, "narrow", tmp_path / "narrow.kubeconfig")

    with config.new_client_from_config(config_file=str(kubeconfig)) as narrow_api:
        narrow = client.CoreV1Api(narrow_api)
        assert _status_of(narrow.list_namespaced_config_map, namespace) == 200
        assert _status_of(narrow.list_namespaced_secret, namespace) == 403
        assert _status_of(narrow.list_namespaced_config_map, "default") == 403
        assert _status_of(narrow.delete_namespaced_config_map, "kube-root-ca.crt", namespace) == 403


def test_a_token_for_a_deleted_service_account_is_refused(
    kube: Cluster, kube_api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "short-lived"}})
    kubeconfig = kube.kubeconfig_for(namespace, "short-lived", tmp_path / "short-lived.kubeconfig")

    core.delete_namespaced_service_account("short-lived", namespace)

    with config.new_client_from_config(config_file=str(kubeconfig)) as gone_api:
        assert _status_of(client.CoreV1Api(gone_api).list_namespaced_config_map, namespace) == 401
