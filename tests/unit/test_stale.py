"""control/stale.py: which running services `make up` must replace, and why, as Compose decides."""

from control.stale import keeps_failing, reasons


def container(service, image="sha256:aaaa1111bbbb2222", config_hash="h1", env=("A=1",), state=None):
    labels = {"com.docker.compose.service": service, "com.docker.compose.image": image,
              "com.docker.compose.config-hash": config_hash}  # fmt: skip
    state = state or {"Running": True, "Restarting": False, "ExitCode": 0}
    return {"Image": image, "Config": {"Labels": labels, "Env": list(env)}, "State": state}


SPEC = {"environment": {"A": "1"}}


def test_a_service_as_built_and_configured_is_not_stale():
    assert reasons("web", SPEC, "h1", "sha256:aaaa1111bbbb2222", [container("web"), container("lb")]) is None


def test_a_new_image_is_named_with_both_ids():
    why = reasons("web", SPEC, "h1", "sha256:cccc3333dddd4444", [container("web")])
    assert why == "its image changed (aaaa1111bbbb -> cccc3333dddd)"


def test_changed_settings_are_named_and_other_changes_said_as_such():
    spec = {"environment": {"A": "2", "B": None}}
    assert reasons("web", spec, "h2", "sha256:aaaa1111bbbb2222", [container("web")]) == (
        "its settings changed (A, B)"
    )
    assert (
        reasons("web", SPEC, "h2", "sha256:aaaa1111bbbb2222", [container("web")]) == "its definition changed"
    )


def test_a_service_with_no_running_container_is_left_to_start():
    assert reasons("redis-2", SPEC, "h9", "sha256:ffff", [container("web")]) is None


def test_containers_that_keep_failing_are_stale_whatever_they_run():
    restarting = container("web", state={"Running": True, "Restarting": True, "ExitCode": 1})
    exited = container("web", state={"Running": False, "Restarting": False, "ExitCode": 1})
    done = container("web", state={"Running": False, "Restarting": False, "ExitCode": 0})
    image = "sha256:aaaa1111bbbb2222"
    assert reasons("web", SPEC, "h1", image, [container("web"), restarting, exited]) == (
        "2 of its 3 containers keep failing"
    )
    assert reasons("web", SPEC, "h1", image, [container("web"), done]) is None


def test_a_container_restarted_is_failing_until_it_is_healthy_again():
    restarted = {**container("web"), "RestartCount": 3}
    assert keeps_failing(restarted)
    restarted["State"]["Health"] = {"Status": "healthy"}
    assert not keeps_failing(restarted)
