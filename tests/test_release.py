"""make deploy builds the image for the architecture it deploys, however the user chose it.

The real ``sam build`` runs against a stand-in Docker engine on 127.0.0.1 (tests/docker_engine.py) that records
the platform each build asks for. ``sam deploy`` needs AWS, so it is recorded instead of run; the guided one
writes samconfig.toml through SAM's own ``SamConfig``, as its prompts do. Why: ``sam build`` reads only
samconfig.toml's build section (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html),
where a guided deploy saves its parameters under deploy.
"""

import shutil
import subprocess
import sys

import pytest
from samcli.lib.config.samconfig import SamConfig

from deploy import release
from tests.conftest import ROOT
from tests.docker_engine import docker_engine

pytestmark = pytest.mark.process  # every test here starts a process or a server

TAG = "classifierfunction:latest"


@pytest.fixture
def engine(monkeypatch):
    with docker_engine() as engine:
        monkeypatch.setenv("DOCKER_HOST", engine.url)
        monkeypatch.setenv("SAM_CLI_TELEMETRY", "0")
        yield engine


@pytest.fixture
def project(tmp_path):
    """The template and a Dockerfile: sam build sends the folder as the build context."""
    shutil.copy(ROOT / "template.yaml", tmp_path)
    (tmp_path / "Dockerfile").write_text('FROM public.ecr.aws/lambda/python:3.13\nCMD ["app.handler"]\n')
    return tmp_path


def test_sam_build_sends_every_file_the_dockerfile_copies_from_a_fresh_clone(engine, tmp_path):
    """The build context as SAM CLI's docker client makes it from .dockerignore, of the files a clone holds: the
    stand-in engine unpacks it and fails the build, as Docker does, when a COPY source is not in it."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    for name in ("Dockerfile", ".dockerignore", "template.yaml"):  # this working tree's, committed or not
        shutil.copy(ROOT / name, clone / name)
    result = subprocess.run([sys.executable, "-m", "samcli", "build"], cwd=clone, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert engine.contexts and "clothing_model.reference.json" in engine.contexts[0]


def test_a_copy_source_that_dockerignore_leaves_out_fails_sam_build(engine, project):
    (project / "model.json").write_text("{}")
    (project / ".dockerignore").write_text("*\n!Dockerfile\n")
    (project / "Dockerfile").write_text('FROM public.ecr.aws/lambda/python:3.13\nCOPY model.json ${LAMBDA_TASK_ROOT}/\n'
                                        'CMD ["app.handler"]\n')
    result = subprocess.run([sys.executable, "-m", "samcli", "build"], cwd=project, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "COPY failed: Dockerfile line 2: model.json matches no file in the build context" in result.stderr


def save_deploy_parameters(project, parameters: str) -> None:
    """samconfig.toml as a guided deploy leaves it: the parameters under deploy."""
    config = SamConfig(project)
    config.put(["deploy"], "parameters", "stack_name", "clothing")
    config.put(["deploy"], "parameters", "parameter_overrides", parameters)
    config.flush()


class Sam:
    """Runs sam build for real; records sam deploy, and answers a guided one as a user would."""

    def __init__(self, guided_answers: str = 'Architecture="x86_64"'):
        self.deploys: list[list[str]] = []
        self.guided_answers = guided_answers

    def __call__(self, command, cwd, check):
        if command[3] == "build":
            return subprocess.run(command, cwd=cwd, check=check, capture_output=True, timeout=120)
        self.deploys.append(command[4:])
        if "--guided" in command:
            save_deploy_parameters(cwd, self.guided_answers)
        return subprocess.CompletedProcess(command, 0)


def platforms(engine) -> list[str]:
    """The platform of each build of the function's image (sam build also builds the pre-traffic check's image
    from the same Dockerfile, for the same platform)."""
    assert {build["platform"] for build in engine.builds if build["t"].startswith("pretrafficcheck:")} <= {
        build["platform"] for build in engine.builds if build["t"] == TAG}
    return [build["platform"] for build in engine.builds if build["t"] == TAG]


def test_a_plain_sam_build_ignores_the_architecture_a_guided_deploy_saved(engine, project):
    """The failure make deploy guards against: arm64 saved, yet sam build builds for x86."""
    save_deploy_parameters(project, 'Architecture="arm64"')
    subprocess.run([sys.executable, "-m", "samcli", "build"], cwd=project, check=True, capture_output=True,
                   timeout=120)
    assert platforms(engine) == ["linux/amd64"]


def test_the_architecture_saved_in_samconfig_is_built_and_deployed(engine, project):
    save_deploy_parameters(project, 'Architecture="arm64" MemorySize="3008"')
    sam = Sam()
    release.release(project, [], run=sam)
    assert platforms(engine) == ["linux/arm64"]
    [deploy] = sam.deploys
    assert "--guided" not in deploy
    assert deploy[deploy.index("--parameter-overrides") + 1:] == ["Architecture=arm64", "MemorySize=3008"]


def test_an_architecture_given_in_args_wins_over_samconfig_and_is_deployed(engine, project):
    save_deploy_parameters(project, 'Architecture="x86_64"')
    sam = Sam()
    release.release(project, ["--parameter-overrides", "Architecture=arm64", "--no-confirm-changeset"], run=sam)
    assert platforms(engine) == ["linux/arm64"]
    [deploy] = sam.deploys
    assert "--no-confirm-changeset" in deploy and "Architecture=arm64" in deploy


def test_without_a_choice_the_templates_default_is_built_and_named_to_the_deploy(engine, project):
    save_deploy_parameters(project, 'MemorySize="2048"')
    sam = Sam()
    release.release(project, [], run=sam)
    assert platforms(engine) == ["linux/amd64"]
    assert "Architecture=x86_64" in sam.deploys[0]


def test_a_first_guided_deploy_that_answers_arm64_deploys_an_arm64_image(engine, project):
    sam = Sam(guided_answers='Architecture="arm64" MemorySize="1769"')
    release.release(project, [], run=sam)
    guided, final = sam.deploys
    assert "--guided" in guided and "--no-execute-changeset" in guided  # its answers saved, nothing deployed
    assert platforms(engine) == ["linux/amd64", "linux/arm64"]  # built again for the answer
    assert "--guided" not in final and "Architecture=arm64" in final


def test_a_first_guided_deploy_that_keeps_the_default_builds_once(engine, project):
    sam = Sam(guided_answers='Architecture="x86_64"')
    release.release(project, [], run=sam)
    assert platforms(engine) == ["linux/amd64"]
    assert "Architecture=x86_64" in sam.deploys[-1]


def test_an_image_of_another_architecture_is_refused_in_one_line_before_any_push(engine, project, capsys):
    """An engine that builds for its own platform whatever is asked: nothing reaches sam deploy."""
    save_deploy_parameters(project, 'Architecture="arm64"')
    sam = Sam()

    def build_for_the_host(command, cwd, check):
        result = sam(command, cwd, check)
        engine.images[TAG] = "amd64"
        return result

    assert release.main([], root=project, run=build_for_the_host) == 1
    assert sam.deploys == []
    error = capsys.readouterr().err.strip()
    assert error == (f"make deploy: the image {TAG} is built for amd64, but the function runs on arm64: nothing "
                     "was pushed; run make deploy again to build it anew")


def test_a_gradual_rollout_refuses_a_stack_name_too_long_for_its_hook_before_building(engine, project, capsys):
    """The pre-traffic check is the function CodeDeployHook_<stack>, and Lambda takes names of 64 characters."""
    save_deploy_parameters(project, 'Rollout="Canary10Percent5Minutes"')
    sam = Sam()
    long_name = "s" * 50
    assert release.main(["--stack-name", long_name], root=project, run=sam) == 1
    assert (engine.builds, sam.deploys) == ([], [])
    assert capsys.readouterr().err.strip() == (
        f"make deploy: Rollout=Canary10Percent5Minutes names its pre-traffic check CodeDeployHook_<stack>, at most "
        f"64 characters: the stack name {long_name!r} has 50, at most 49 fit")
    release.release(project, ["--stack-name", "s" * 49], run=sam)  # one fewer fits
    assert "--stack-name" in sam.deploys[0] and "s" * 49 in sam.deploys[0]
    release.release(project, ["--stack-name", long_name, "--parameter-overrides", "Rollout=AllAtOnce"], run=sam)
