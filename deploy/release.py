"""make deploy: build the image for the architecture the function will run on, check it, then deploy it.

    python -m deploy.release [sam deploy options]
    make deploy ARGS="--parameter-overrides Architecture=arm64"

``sam build`` reads only samconfig.toml's ``build`` section, while a guided deploy saves the parameters to its
``deploy`` section: a plain ``sam build`` then makes an image for the template's default architecture, and an
arm64 function fails at its first request with ``exec format error``. So the parameters are taken as the deploy
will see them (``--parameter-overrides`` over samconfig.toml's, over the template's defaults) and given to both
commands, and the image built is checked against them before ``sam deploy`` pushes anything.

The first deploy is guided: its answers are saved without executing the change set, then the image is built
again if they named another architecture, and the deploy runs as a later one does.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import docker
import docker.errors
from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.samconfig import DEFAULT_CONFIG_FILE_NAME, DEFAULT_ENV, SamConfig
from samtranslator.yaml_helper import yaml_parse

SAM = [sys.executable, "-m", "samcli"]
# Docker's names for Lambda's architectures (an image's "Architecture" as `docker image inspect` prints it).
DOCKER_ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
# A gradual Rollout's pre-traffic check is named CodeDeployHook_<stack> (template.yaml), and a function's name
# holds at most 64 characters.
HOOK_PREFIX, MAX_FUNCTION_NAME = "CodeDeployHook_", 64


class Refused(Exception):
    """What stops the deploy before anything is pushed, in one line."""


def template_of(root: Path) -> dict:
    return yaml_parse((root / "template.yaml").read_text())


def saved_parameters(root: Path, config_file: str, config_env: str) -> dict[str, str]:
    """The parameter overrides samconfig.toml holds for ``sam deploy``, as SAM reads them."""
    config = SamConfig(root, config_file)
    if not config.exists():
        return {}
    saved = config.get_all(["deploy"], "parameters", config_env).get("parameter_overrides", ())
    return CfnParameterOverridesType().convert((saved,) if isinstance(saved, str) else tuple(saved), None, None)


def architecture_of(parameters: dict[str, str], template: dict) -> str:
    return parameters.get("Architecture", template["Parameters"]["Architecture"]["Default"])


def overrides(parameters: dict[str, str]) -> list[str]:
    return ["--parameter-overrides", *(f"{key}={value}" for key, value in parameters.items())] if parameters else []


def image_tag(template: dict) -> str:
    """The tag sam build gives the function's image: its DockerTag under the function's logical id."""
    return f"classifierfunction:{template['Resources']['ClassifierFunction']['Metadata'].get('DockerTag', 'latest')}"


def check_stack_name(stack: str | None, parameters: dict[str, str], template: dict) -> None:
    """Refuse a stack whose name would make the pre-traffic check's function name too long for Lambda."""
    rollout = parameters.get("Rollout", template["Parameters"]["Rollout"]["Default"])
    if rollout != "AllAtOnce" and stack and len(HOOK_PREFIX + stack) > MAX_FUNCTION_NAME:
        raise Refused(f"Rollout={rollout} names its pre-traffic check {HOOK_PREFIX}<stack>, at most "
                      f"{MAX_FUNCTION_NAME} characters: the stack name {stack!r} has {len(stack)}, at most "
                      f"{MAX_FUNCTION_NAME - len(HOOK_PREFIX)} fit")


def saved_stack_name(root: Path, config_file: str, config_env: str) -> str | None:
    config = SamConfig(root, config_file)
    return config.get_all(["deploy"], "parameters", config_env).get("stack_name") if config.exists() else None




def check_image(template: dict, architecture: str) -> None:
    """Refuse an image whose architecture is not the function's: Lambda would accept it and fail every start."""
    tag = image_tag(template)
    try:
        built = docker.from_env().images.get(tag).attrs.get("Architecture")
    except (docker.errors.DockerException, OSError) as error:
        raise Refused(f"the image {tag} cannot be read from the container engine: {error}") from None
    if built != DOCKER_ARCHITECTURES[architecture]:
        raise Refused(f"the image {tag} is built for {built}, but the function runs on {architecture}: "
                      "nothing was pushed; run make deploy again to build it anew")


def build_and_check(root: Path, template: dict, parameters: dict[str, str], run) -> str:
    """sam build with the parameters the deploy will use, so that it builds for the deploy's architecture."""
    architecture = architecture_of(parameters, template)
    print(f"make deploy: building the image for {architecture}", flush=True)
    run([*SAM, "build", *overrides({**parameters, "Architecture": architecture})], cwd=root, check=True)
    check_image(template, architecture)
    return architecture


def release(root: Path, argv: list[str], run=subprocess.run) -> None:
    """Build, check and deploy; ``run`` runs each SAM command."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--parameter-overrides", nargs="+", default=[])
    parser.add_argument("--config-file", default=DEFAULT_CONFIG_FILE_NAME)
    parser.add_argument("--config-env", default=DEFAULT_ENV)
    parser.add_argument("--guided", "-g", action="store_true")
    parser.add_argument("--stack-name")
    args, rest = parser.parse_known_args(argv)
    rest = [*rest, "--stack-name", args.stack_name] if args.stack_name else rest
    given = CfnParameterOverridesType().convert(tuple(args.parameter_overrides), None, None)
    config = ["--config-file", args.config_file, "--config-env", args.config_env]
    template = template_of(root)
    guided = args.guided or not SamConfig(root, args.config_file).exists()
    parameters = {**saved_parameters(root, args.config_file, args.config_env), **given}
    check_stack_name(args.stack_name or saved_stack_name(root, args.config_file, args.config_env), parameters,
                     template)
    built_for = build_and_check(root, template, parameters, run)
    if guided:
        # The answers are saved and a change set made, but not executed: what runs is deployed below.
        run([*SAM, "deploy", "--guided", "--no-execute-changeset", *config, *rest,
             *overrides({**given, "Architecture": built_for})], cwd=root, check=True)
        parameters = {**saved_parameters(root, args.config_file, args.config_env), **given}
        check_stack_name(args.stack_name or saved_stack_name(root, args.config_file, args.config_env), parameters,
                         template)
        if architecture_of(parameters, template) != built_for:
            built_for = build_and_check(root, template, parameters, run)
    # Architecture named outright: a stack's previous value would otherwise stand where none is given.
    run([*SAM, "deploy", *config, *rest, *overrides({**parameters, "Architecture": built_for})], cwd=root, check=True)


def main(argv: list[str] | None = None, root: Path | None = None, run=subprocess.run) -> int:
    try:
        release(root or Path.cwd(), sys.argv[1:] if argv is None else argv, run)
    except Refused as refusal:
        print(f"make deploy: {refusal}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as failure:
        return failure.returncode  # SAM has said why
    return 0


if __name__ == "__main__":
    sys.exit(main())
