"""main.py wires the webhook into kopf; the ValidatingWebhookConfiguration says exactly what the issue asks."""

from __future__ import annotations

import pytest

from redisbackup import main
from redisbackup.cli import main as cli
from redisbackup.cli.run_operator import options_from
from redisbackup.k8s.webhook_configuration import build_configuration
from redisbackup.servers.webhook import AdmissionServer, WebhookOptions


def test_the_webhook_is_registered_for_redisbackup_creates_and_updates() -> None:
    import kopf

    options = main.OperatorOptions(webhook=WebhookOptions())
    registry = main.build_registry(options)
    handlers = registry._webhooks.get_all_handlers()
    assert [h.id for h in handlers] == ["validate-redisbackup", "validate-redisbackupschedule"]
    for handler in handlers:
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
    webhook, schedules = configuration["webhooks"]
    assert schedules["rules"][0]["resources"] == ["redisbackupschedules"]
    assert schedules["clientConfig"] == {"url": "https://127.0.0.1:9443/validate-redisbackupschedule"}
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["sideEffects"] == "None"
    assert webhook["timeoutSeconds"] == 10
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


def test_the_operator_command_reads_its_settings_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDISBACKUP_NAMESPACES", "team-a, team-b")
    monkeypatch.setenv("REDISBACKUP_WEBHOOK_SERVICE", "redisbackup-system/redisbackup-webhook:8443")
    monkeypatch.setenv("REDISBACKUP_WEBHOOK_LISTEN", "0.0.0.0:9443")
    args = cli.build_parser().parse_args(["operator", "--webhook-timeout", "3"])
    options = options_from(args)
    assert options.namespaces == ("team-a", "team-b")
    assert options.webhook is not None
    assert (options.webhook.listen_host, options.webhook.listen_port) == ("0.0.0.0", 9443)
    assert options.webhook.service is not None
    assert options.webhook.service.port == 8443
    assert options.webhook.timeout_seconds == 3
    assert options.webhook.namespaces == ("team-a", "team-b")
    # A flag wins over its variable.
    assert options_from(cli.build_parser().parse_args(["operator", "-n", "only"])).namespaces == ("only",)
    assert options_from(cli.build_parser().parse_args(["operator", "--no-webhook"])).webhook is None
