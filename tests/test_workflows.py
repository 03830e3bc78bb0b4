"""The pull-request workflows keep untrusted code away from write access (issue #16)."""

from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as true
    return document


def steps(document: dict) -> list[dict]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def scripts(document: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(document))


def test_the_untrusted_job_can_write_nothing_and_keeps_no_credentials():
    untrusted = load("bench-ci.yml")
    assert set(untrusted["on"]) == {"pull_request"}  # never pull_request_target
    assert untrusted["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in untrusted["jobs"].values())
    checkouts = [s for s in steps(untrusted) if s.get("uses", "").startswith("actions/checkout")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)
    assert "GH_TOKEN" not in str(untrusted) and "secrets." not in str(untrusted)


def test_harness_and_reference_come_from_the_base_branch():
    untrusted = load("bench-ci.yml")
    first, second = [s for s in steps(untrusted) if s.get("uses", "").startswith("actions/checkout")]
    assert first["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert "path" not in first["with"]  # the working tree is the base branch
    assert second["with"]["path"] == "pull-request"
    script = scripts(untrusted)
    copy = script.index('cp -r "pull-request/submissions/$name" "submissions/$name"')
    assert copy < script.index("rm -rf pull-request") < script.index("make install")
    assert "grep -E '^[A-Za-z0-9_-]+$'" in script  # folder names only, no paths


def test_untrusted_text_is_never_expanded_into_a_script():
    for name in ("bench-ci.yml", "bench-ci-comment.yml"):
        script = scripts(load(name))
        assert "${{" not in script  # values reach scripts through env variables only
        for field in ("title", "body", "head_ref", "head.ref", "label"):
            assert f"pull_request.{field}" not in str(load(name))


def test_the_report_is_an_artifact_and_the_comment_a_separate_workflow():
    untrusted = load("bench-ci.yml")
    uploads = [s for s in steps(untrusted) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["name"] == "bench-ci-report"
    assert "gh pr comment" not in scripts(untrusted)

    commenter = load("bench-ci-comment.yml")
    assert commenter["on"]["workflow_run"]["workflows"] == [untrusted["name"]]
    assert commenter["permissions"]["pull-requests"] == "write"
    assert not any(s.get("uses", "").startswith("actions/checkout") for s in steps(commenter))
    script = scripts(commenter)
    assert "tr -cd '0-9'" in script and "headRefOid" in script and "head -c" in script
    assert "--body-file" in script


def test_the_study_fits_the_job_timeout():
    untrusted = load("bench-ci.yml")
    (job,) = untrusted["jobs"].values()
    assert "total=$(( 2700 / " in scripts(untrusted) and job["timeout-minutes"] * 60 > 2700 + 600
