"""main.py wires the webhook into kopf; the ValidatingWebhookConfiguration says exactly what the issue asks."""

from __future__ import annotations

from redisbackup import main
from redisbackup.k8s.webhook_configuration import build_configuration
from redisbackup.k8s.webhook_server import AdmissionServer, WebhookOptions


def test_the_webhook_is_registered_for_redisbackup_creates_and_updates() -> None:
    import kopf

    options = main.OperatorOptions(webhook=WebhookOptions())
    registry = main.build_registry(options)
    (handler,) = registry._webhooks.get_all_handlers()
    assert handler.id == "validate-redisbackup"
    assert set(handler.operations or ()) == {"CREATE", "UPDATE"}
    assert handler.ignore_failures is False
    settings = kopf.OperatorSettings()
    main.configure(settings, options)
    assert isinstance(settings.admission.server, AdmissionServer)
    assert settings.admission.managed is None


def test_without_a_webhook_nothing_is_served() -> None:
    import kopf

    options = main.OperatorOptions(webhook=None)
    assert main.build_registry(options)._webhooks.get_all_handlers() == []
    settings = kopf.OperatorSettings()
    main.configure(settings, options)
    assert settings.admission.server is None


def test_the_configuration_fails_closed_has_no_side_effects_and_a_short_timeout() -> None:
    configuration = build_configuration(
        "redisbackup-validating-webhook", {"url": "https://127.0.0.1:9443/validate-redisbackup"}, namespaces=["b", "a"]
    )
    (webhook,) = configuration["webhooks"]
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["sideEffects"] == "None"
    assert webhook["timeoutSeconds"] == 5
    assert webhook["rules"] == [
        {
            "apiGroups": ["redisbackup.io"],
            "apiVersions": ["v1alpha1"],
            "resources": ["redisbackups"],
            "operations": ["CREATE", "UPDATE"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["matchConditions"][0]["expression"] == (
        "request.operation == 'CREATE' || object.spec != oldObject.spec"
    )
    assert webhook["namespaceSelector"]["matchExpressions"][0]["values"] == ["a", "b"]
